"""How a cloud cluster's partitions read in slurm.conf (AWS's; Azure's too, with its own power programs): every node
of every partition declared by name, each partition as one hostlist (``cpu-[0-99]``), so neither user data nor
slurm.conf grows with ``max``. Every node is State=CLOUD with no address (the head's resume program launches it and
sets its NodeAddr); the ``min`` first of a partition are powered up by the head once slurmctld runs, through that
same program, and kept (SuspendExcNodes)."""

from __future__ import annotations

from collections.abc import Sequence

from components.boot.config import BUNDLE_DIR, StaticNode
from components.boot.power_files import power_command, slurm_power_files
from spec import environment as spec


def hostlist(partition: str, count: int) -> str:
    """The Slurm hostlist of a partition's first ``count`` nodes (``cpu-[0-3]``)."""
    return f"{partition}-[0-{count - 1}]"


def declared_nodes(partitions: Sequence[spec.Partition]) -> tuple[StaticNode, ...]:
    """The compute nodes slurm.conf declares: one hostlist per partition, no address."""
    return tuple(StaticNode(hostlist(p.name, p.max)) for p in partitions)


def power_saving_vars(partitions: Sequence[spec.Partition], scaling: spec.Scaling) -> dict[str, object]:
    """The slurm role's tunables of every node (slurm.conf is the same on all) but the power programs, which are
    each cloud's: the partitions, all CLOUD nodes, the ``min`` ones powered up and kept."""
    every = [hostlist(p.name, p.max) for p in partitions]
    return {"slurm_partitions": [{"name": p.name, "nodes": [hostlist(p.name, p.max)]} for p in partitions],
            "slurm_cloud_nodes": every,
            "slurm_power_up_nodes": [hostlist(p.name, p.min) for p in partitions if p.min], **scaling.slurm_vars()}


def slurm_vars(partitions: Sequence[spec.Partition], scaling: spec.Scaling) -> dict[str, object]:
    """The slurm role's tunables of every AWS node, the power programs included."""
    return {**power_saving_vars(partitions, scaling),
            "slurm_resume_command": power_command("resume"), "slurm_suspend_command": power_command("suspend"),
            "slurm_power_files": slurm_power_files(BUNDLE_DIR)}
