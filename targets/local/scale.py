"""`invoke scale` on a local cluster: move a partition's floor (the nodes power saving never stops) while it runs.

Slurm is configured in one place, so the slurm role renders the new ``SuspendExcNodes`` on every running node (its
``slurm`` tag alone, from the variables the node booted with, the floor changed), then ``scontrol reconfigure`` has
slurmctld read it. Raising the floor powers the nodes it adds up through Slurm (``State=POWER_UP``: Slurm's resume
program asks the power agent, as for a job); lowering it leaves the nodes it drops to stop after the idle time. The
journal keeps the floors, so nodes started later, the agent and the contract agree.
"""

from __future__ import annotations

import ipaddress
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from components.boot.script import STAGE
from spec.outputs import Outputs
from targets.errors import UsageError
from targets.local import boot, node, power_agent
from targets.local.journal import Journal
from targets.local.node_start import ANSIBLE_DIR
from targets.local.target import cluster_of, saved_spec
from targets.state import destroy_remedy, env_dir, outputs_path

VARS = f"{STAGE}/boot-vars.json"  # what the node booted with (components/boot/script.py writes it)


def scale(name: str, partition: str, floor: int, console: Console) -> Outputs:
    """Make ``floor`` nodes of ``partition`` always on; returns the contract with the new ``min``."""
    root = env_dir(name)
    env = saved_spec(root, destroy_remedy(name))
    journal = Journal.load(name)
    chosen = next((p for p in env.slurm_partitions if p.name == partition), None)
    if chosen is None:
        known = ", ".join(p.name for p in env.slurm_partitions)
        raise UsageError(f"scale: no partition named {partition!r} in environment {name!r} (partitions: {known})")
    if not journal.agent:
        raise UsageError(f"scale: environment {name!r} was built without power saving (every partition's min was "
                         "its max); give a partition min < max and build it again to scale it")
    if not 0 <= floor <= chosen.max:
        raise UsageError(f"scale --min {floor}: partition {partition} has {chosen.max} nodes; give 0 to {chosen.max}")
    was = journal.floors.get(partition, chosen.min)
    floors = {**journal.floors, partition: floor}
    cluster = cluster_of(env, root, ipaddress.ip_network(journal.subnet), floors)
    head = journal.inits["head"]
    running = [(node_name, pid) for node_name, pid in sorted(journal.inits.items()) if node.alive(pid)]
    with ThreadPoolExecutor(max_workers=len(running) or 1) as renders:  # every node at once, as their boots run
        always_on = cluster.tunables["slurm_always_on"]
        list(renders.map(lambda item: _render_slurm(item[1], item[0], always_on), running))
    node.run(head, ["scontrol", "reconfigure"], "scontrol reconfigure on head")
    # the agent learns the nodes it may stop as it starts, and writes the journal as it works: stopped (after what
    # it is doing), the journal is ours to write
    power_agent.stop(root, journal.agent)
    journal = Journal.load(name)
    journal.floors = floors
    journal.save()  # before the agent starts: it reads the floors
    journal.agent = power_agent.start(name)
    journal.save()
    added = chosen.node_names()[was:floor]
    if added:
        node.run(head, ["scontrol", "update", f"NodeName={','.join(added)}", "State=POWER_UP"],
                 f"power up {', '.join(added)}")
    contract = Outputs.load(outputs_path(name))
    partitions = [p.model_copy(update={"min": floor}) if p.name == partition else p for p in contract.partitions]
    contract = contract.model_copy(update={"partitions": partitions})
    contract.save(outputs_path(name))
    console.print(f"partition {partition} of {name}: {floor} of {chosen.max} nodes always on (was {was})"
                  + (f"; starting {', '.join(added)}" if added else "")
                  + ("; the others stop after the idle time" if floor < was else ""))
    return contract


def _render_slurm(pid: int, node_name: str, always_on: object) -> None:
    """The slurm role on one node, from the variables it booted with, the floor changed."""
    vars_file = Path(f"/proc/{pid}/root") / VARS.lstrip("/")  # the node's own /run, seen from here
    variables = json.loads(vars_file.read_text())
    variables["slurm_always_on"] = always_on
    vars_file.write_text(json.dumps(variables, indent=2, sort_keys=True))
    node.run(pid, ["sh", str(ANSIBLE_DIR / "boot.sh"), VARS, "--tags", "slurm"], f"render slurm.conf on {node_name}",
             env=boot.environment())
