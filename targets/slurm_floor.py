"""Move a running Slurm cluster's floor (the nodes power saving never stops), the same way on every target.

Over SSH, as root on each node: the slurm role renders the new ``SuspendExcNodes`` on every running node (its
``slurm`` tag alone, from the variables the node booted with, only the floor changed), ``scontrol reconfigure`` has
slurmctld read it, and the floor's nodes are powered up through Slurm (``targets.floor_power_up``). Where the floor is
recorded (the local journal, a cloud stack's config) and where a node keeps its roles stay the target's.

Why SSH everywhere: the local nodes run a real sshd, so the steps a cloud cluster takes are the ones the local
tests run. Why the variables file: it is what the node booted with (``components/boot/script.py`` writes it, on the
node's disk, so a restart keeps it), so nothing but the floor changes; the floor goes in ``slurm_always_on`` and the
boot's ``slurm_power_up_nodes`` (an AWS head's floor at boot) is emptied, so the role does not power up again nodes
that run already (slurm.conf reads the two lists joined: the same line). Why not the munge role, which ``--tags
slurm`` runs too (a dependency): the floor changes nothing of it, and on a cloud node its source is gone (the boot
fetched the key onto tmpfs and removed it once installed), so the key stays the one the boot installed.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import paramiko
from rich.console import Console

from components.boot.config import BUNDLE_DIR
from components.boot.script import BOOT_VARS
from remote import deadlines
from remote.errors import RemoteError
from remote.fanout import fan_out
from remote.pool import Pool
from remote.readiness import wait_for_boot
from remote.run import as_root, run, tail

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
RENDER = "render slurm.conf"
_NO_VARS = 66  # the render's exit code when the node's variables file is gone (sysexits' EX_NOINPUT)


@dataclass(frozen=True)
class Roles:
    """Where a node's copy of ``ansible/`` is, and what its ``boot.sh`` needs to find Ansible there."""

    folder: str
    env: Mapping[str, str] = field(default_factory=dict)


CLOUD_ROLES = Roles(BUNDLE_DIR)  # where the boot unpacked the bundle on every cloud node


def render(pool: Pool, nodes: Sequence[str], always_on: Sequence[str], roles: Roles, console: Console,
           booting: float) -> None:
    """The slurm role on every node of ``nodes`` at once with ``always_on`` as the floor (slurmctld reads it at
    ``reconfigure``, or as the role restarts it under systemd). A node still booting (started for a job a moment
    ago) is waited for up to ``booting`` seconds: its own boot writes the variables file and runs the role, which a
    render meanwhile would race. ``pool`` retries refused logins (such a node's user may not exist yet)."""
    wait_for_boot(pool, nodes, timeout=booting)
    change = json.dumps({"slurm_always_on": list(always_on), "slurm_power_up_nodes": []})
    fan_out(pool, list(nodes), lambda client, name: _render(client, name, change, roles), step=RENDER,
            console=console)


def reconfigure(pool: Pool) -> None:
    """slurmctld reads the rendered slurm.conf: the floor takes effect (a node it no longer keeps and that has been
    idle past the idle time is suspended at once)."""
    run(pool.head(), as_root(["scontrol", "reconfigure"]), node=pool.head_name(), step="scontrol reconfigure")


def _render(client: paramiko.SSHClient, name: str, change: str, roles: Roles) -> None:
    """The slurm role on one node, from the variables it booted with, ``change`` merged in."""
    boot = shlex.join(["env", *(f"{key}={value}" for key, value in roles.env.items()), "sh",
                       f"{roles.folder}/boot.sh", BOOT_VARS, "--tags", "slurm", "--skip-tags", "munge"])
    script = f"""set -eu
umask 022
[ -f {BOOT_VARS} ] || exit {_NO_VARS}
python3 -c {shlex.quote(_MERGE)} {BOOT_VARS} {shlex.quote(change)}
{boot}
"""
    result = run(client, as_root(["sh", "-c", script]), node=name, step=RENDER, timeout=deadlines.ROLE,
                 check=False)
    if result.exit_code == _NO_VARS:
        raise RemoteError(name, RENDER, f"{BOOT_VARS} is missing: the node booted before the toolkit kept its boot "
                          "variables on disk (they were on tmpfs, and a restart took them)",
                          f"set SuspendExcNodes in /etc/slurm/slurm.conf on {name} by hand (`invoke ssh --node "
                          f"{name}`), as on the other nodes; the floor itself is recorded")
    if result.exit_code != 0:
        raise RemoteError(name, RENDER, f"the slurm role exited with {result.exit_code}:\n"
                          f"{tail(result.stdout + result.stderr) or '(no output)'}",
                          f"read the lines above, fix the cause and scale again ({BOOT_VARS} has the new floor)")
