"""Move a running Slurm cluster's floor (the nodes power saving never stops), the same way on every target.

Over SSH, as root on each node: the slurm role renders the new ``SuspendExcNodes`` on every running node (its
``slurm`` tag alone, from the variables the node booted with, only the floor changed), ``scontrol reconfigure`` has
slurmctld read it, and the floor's nodes Slurm holds powered down are powered up through Slurm (``State=POWER_UP``:
the resume program a job's nodes start by, so a node starts exactly as it would for a job). Where the floor is
recorded (the local journal, a cloud stack's config) and where a node keeps its roles stay the target's.

Why SSH everywhere: the local nodes run a real sshd, so the steps a cloud cluster takes are the ones the local
tests run. Why the variables file: it is what the node booted with (``components/boot/script.py`` writes it), so
nothing but the floor changes; the floor goes in ``slurm_always_on`` and the boot's ``slurm_power_up_nodes`` (an AWS
head's floor at boot) is emptied, so the role does not power up again nodes that run already (slurm.conf reads the
two lists joined: the same line). Why power up what Slurm shows powered down rather than what the floor added: a
scale run again after a failed one starts what the first did not.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.console import Console

from components.boot.config import BUNDLE_DIR
from components.boot.script import STAGE
from remote import deadlines
from remote.fanout import fan_out
from remote.pool import Pool
from remote.run import as_root, run

VARS = f"{STAGE}/boot-vars.json"  # what the node booted with (tmpfs: gone if the node restarted since)
# Merges a JSON object into the variables file, replacing it whole (root's alone, as the boot left it).
_MERGE = """import json, os, sys
path, change = sys.argv[1], json.loads(sys.argv[2])
with open(path) as held:
    variables = json.load(held)
variables.update(change)
with open(os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
    json.dump(variables, out, indent=2, sort_keys=True)
os.replace(path + ".new", path)
"""
POWERED_DOWN = "idle~"  # sinfo's short state of an idle node that power saving holds down


@dataclass(frozen=True)
class Roles:
    """Where a node's copy of ``ansible/`` is, and what its ``boot.sh`` needs to find Ansible there."""

    folder: str
    env: Mapping[str, str] = field(default_factory=dict)


CLOUD_ROLES = Roles(BUNDLE_DIR)  # where the boot unpacked the bundle on every cloud node


def render(pool: Pool, nodes: Sequence[str], always_on: Sequence[str], roles: Roles, console: Console) -> None:
    """The slurm role on every node of ``nodes`` at once with ``always_on`` as the floor, then slurmctld reads it."""
    change = json.dumps({"slurm_always_on": list(always_on), "slurm_power_up_nodes": []})
    fan_out(pool, list(nodes), lambda client, name: run(
        client, as_root(["sh", "-c", _render_script(change, roles)]), node=name, step="render slurm.conf",
        timeout=deadlines.ROLE), step="render slurm.conf", console=console)
    run(pool.head(), as_root(["scontrol", "reconfigure"]), node=pool.head_name(), step="scontrol reconfigure")


def power_up(pool: Pool, floor: Sequence[str]) -> list[str]:
    """Power up the nodes of ``floor`` that Slurm holds powered down; returns them."""
    if not floor:
        return []
    head = pool.head()
    listed = run(head, ["sinfo", "-h", "-N", "-n", ",".join(floor), "-o", "%N %t"], node=pool.head_name(),
                 step="list the floor's nodes").stdout
    states = dict(line.split() for line in listed.splitlines() if len(line.split()) == 2)
    down = [name for name in floor if states.get(name) == POWERED_DOWN]
    if down:
        run(head, as_root(["scontrol", "update", f"NodeName={','.join(down)}", "State=POWER_UP"]),
            node=pool.head_name(), step=f"power up {', '.join(down)}")
    return down


def _render_script(change: str, roles: Roles) -> str:
    boot = shlex.join(["env", *(f"{key}={value}" for key, value in roles.env.items()), "sh",
                       f"{roles.folder}/boot.sh", VARS, "--tags", "slurm"])
    gone = f"{VARS} is gone: the node restarted since its boot, and its boot variables with it"
    return f"""set -eu
umask 022
[ -f {VARS} ] || {{ echo {shlex.quote(gone)} >&2; exit 3; }}
python3 -c {shlex.quote(_MERGE)} {VARS} {shlex.quote(change)}
{boot}
"""
