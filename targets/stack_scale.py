"""`invoke scale` on a cloud stack: move a partition's floor while the cluster runs (AWS, and Azure, whose elastic
partitions name their nodes in the contract as AWS's do).

Where the floor lives afterwards, and why: in the stack's config (``partitions[i].min``, set as `pulumi config set
--path` sets it), deployed at once through the Automation API (`pulumi up`), so that everything reading it agrees:

- a later `invoke up` or `pulumi up` reads the config: it keeps the floor instead of putting the old one back;
- the deployment exports the contract from it: `status`, `run-mpi`'s default node count and `up`'s wait for the
  fleet (``fleet.expected``) read the new ``min`` from the stack, on any machine;
- the partitions' launch templates carry it in the nodes' boot variables: a node launched later renders the
  head's slurm.conf, and a head created again boots with the floor (its resume program powers it up). On Azure the
  nodes' boot scripts ride in the running head's power config (custom data, never changed): its power program gives
  a VM it creates the floor of the head's slurm.conf instead (``azure_power.head_floor``).

The deployment passes `up`'s gate first: the offline plan with the new floor is shown (resources, cost) and a security
error stops it before the config is written. It asks no question (the floor is what was asked for), so whatever else
changed in the config since the last `up` is deployed with it, as the plan shows.

That deployment does not touch the running head (cloud-init runs user data once, and the stack ignores changes to
it), so the floor reaches Slurm over SSH (``targets.slurm_floor``): the slurm role renders it on the head and the
running compute nodes, on their disks, so a head that reboots keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from components.cloud_partitions import SUSPEND_TIMEOUT, hostlist
from remote.pool import Pool
from spec.loader import load_environment
from spec.outputs import Outputs
from targets import environments, pulumi_stack
from targets.backend import Record
from targets.errors import TargetError, UsageError
from targets.floor_power_up import power_up, resets
from targets.slurm_floor import reconfigure, render

if TYPE_CHECKING:
    from targets.cloud import PulumiBackend


def scale(backend: PulumiBackend, record: Record, contract: Outputs, partition: str, floor: int,
          console: Console) -> Outputs:
    """Make ``floor`` nodes of ``partition`` always on: the stack's config, its deployment, then Slurm."""
    chosen = next((p for p in contract.partitions if p.name == partition), None)
    if chosen is None:
        known = ", ".join(p.name for p in contract.partitions) or "none"
        raise UsageError(f"scale: no partition named {partition!r} in environment {contract.name!r} (partitions: "
                         f"{known})")
    if not 0 <= floor <= chosen.max:
        raise UsageError(f"scale --min {floor}: partition {partition} has {chosen.max} nodes; give 0 to {chosen.max}")
    if not chosen.nodes:
        raise UsageError(f"scale: environment {contract.name!r} has no elastic partitions: its {chosen.max} compute "
                         "nodes are one fleet, not nodes Slurm starts by name")
    if record.stack is None:
        raise TargetError(f"scale: environment {record.name!r} names no Pulumi stack: `invoke scale --stack STACK` "
                          "with the stack it was deployed with")
    stack = record.stack
    pulumi_stack.require_cli()
    env = load_environment(None, stack, pulumi_stack.PROJECT)
    index = next((i for i, p in enumerate(env.slurm_partitions) if p.name == partition), None)
    if index is None:
        raise UsageError(f"scale: the config of stack {stack} (Pulumi.{stack}.yaml) has no partition {partition!r}, "
                         "which its deployment has: `invoke up --stack` it first, or edit it back")
    field = env.partition_field(index)
    if field == "compute":
        raise UsageError(f"scale: stack {stack} has no elastic partitions (compute: is one static partition); name "
                         "it under partitions: with a min below its max, `invoke up`, then scale it")
    moved = [p.model_copy(update={"min": floor}) if i == index else p for i, p in enumerate(env.slurm_partitions)]
    backend.preview(env.model_copy(update={"partitions": moved}), stack, console)  # up's gate: security errors stop
    pulumi_stack.set_config_path(stack, f"{field}.min", str(floor))
    console.print(f"stack {stack}: {field}.min = {floor} in its config; deploying it")
    values = pulumi_stack.up(stack, lambda line: console.print(line, markup=False, highlight=False))
    deployed = environments.parse_contract(values, f"the outputs of stack {stack}")
    environments.cache(record, deployed)
    running = deployed.model_copy(update={"computes": backend.compute_nodes(deployed)})
    now = deployed.partition(partition)
    with Pool(running, retry_auth=True) as pool:
        render(pool, [node.name for node in running.nodes()],
               [hostlist(p.name, p.min) for p in deployed.partitions if p.min], backend.roles, console,
               backend.boot_timeout)
        reconfigure(pool)
        started, reset = power_up(pool, now.nodes[:now.min], SUSPEND_TIMEOUT)
    console.print(f"partition {partition} of {contract.name}: {now.min} of {now.max} nodes always on (was "
                  f"{chosen.min})" + resets(reset)
                  + (f"; starting {', '.join(started)}" if started else "")
                  + ("; the others stop after the idle time" if now.min < chosen.min else ""))
    return deployed
