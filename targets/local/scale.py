"""`invoke scale` on a local cluster: move a partition's floor (the nodes power saving never stops) while it runs.

The steps on the nodes are every target's (``targets.slurm_floor``, over the nodes' real sshd): the slurm role renders
the new ``SuspendExcNodes`` on every running node, slurmctld reads it, and the floor's nodes Slurm holds powered down
are powered up through Slurm (its resume program asks the power agent, as for a job); lowering the floor leaves the
nodes it drops to stop after the idle time. The journal keeps the floors, so nodes started later, the agent and the
contract agree; the agent is started again with them between the render and slurmctld's reading it, so that it
already lets a node go that slurmctld stops as soon as it reads a lower floor.
"""

from __future__ import annotations

import ipaddress

from rich.console import Console

from remote.pool import Pool
from spec.outputs import Outputs
from targets.errors import UsageError
from targets.floor_power_up import power_up, resets
from targets.local import boot, node, power_agent
from targets.local.journal import Journal
from targets.local.node_start import ANSIBLE_DIR
from targets.local.target import SUSPEND_TIMEOUT, cluster_of, saved_spec
from targets.slurm_floor import Roles, reconfigure, render
from targets.state import destroy_remedy, env_dir, outputs_path


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
    running = [node_name for node_name, pid in sorted(journal.inits.items()) if node.alive(pid)]
    contract = Outputs.load(outputs_path(name))
    reachable = contract.model_copy(update={"computes": [n for n in contract.computes if n.name in running]})
    with Pool(reachable, retry_auth=True) as pool:
        render(pool, ["head", *(n.name for n in reachable.computes)], cluster.tunables["slurm_always_on"],
               Roles(str(ANSIBLE_DIR), boot.environment()), console, boot.TIMEOUT)
        # the agent learns the nodes it may stop as it starts, and writes the journal as it works: stopped (after
        # what it is doing), the journal is ours to write. It knows the new floor before slurmctld does, which at
        # once stops a node a lower floor no longer keeps (one the old agent would refuse)
        power_agent.stop(root, journal.agent)
        journal = Journal.load(name)
        journal.floors = floors
        journal.save()  # before the agent starts: it reads the floors
        journal.agent = power_agent.start(name)
        journal.save()
        reconfigure(pool)
        partitions = [p.model_copy(update={"min": floor}) if p.name == partition else p for p in contract.partitions]
        contract = contract.model_copy(update={"partitions": partitions})
        contract.save(outputs_path(name))  # before the power up, whose refusal of a node leaves the floor moved
        added, reset = power_up(pool, chosen.node_names()[:floor], SUSPEND_TIMEOUT)
    console.print(f"partition {partition} of {name}: {floor} of {chosen.max} nodes always on (was {was})"
                  + resets(reset) + (f"; starting {', '.join(added)}" if added else "")
                  + ("; the others stop after the idle time" if floor < was else ""))
    return contract
