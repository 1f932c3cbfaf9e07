"""How a cloud cluster's partitions read in slurm.conf, on AWS and Azure alike (each adds its own power programs):
every node of every partition declared by name, each partition as one hostlist (``cpu-[0-99]``), so neither the boot
data nor slurm.conf grows with ``max``. Every node is State=CLOUD with no address (the head's resume program
launches it and sets its NodeAddr); the ``min`` first of a partition are powered up by the head once slurmctld runs,
through that same program, and kept (SuspendExcNodes). A GPU partition's nodes carry their GRES."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from components.boot.config import StaticNode
from spec import environment as spec
from spec.partition_gpus import gres_type

# Slurm's SuspendTimeout: a terminated instance or deleted VM takes a minute or two to go (ParallelCluster waits
# 120 s too); a node powered up sooner would meet its old machine still shutting down.
SUSPEND_TIMEOUT = 120


def hostlist(partition: str, count: int) -> str:
    """The Slurm hostlist of a partition's first ``count`` nodes (``cpu-[0-3]``)."""
    return f"{partition}-[0-{count - 1}]"


def declared_nodes(partitions: Sequence[spec.Partition]) -> tuple[StaticNode, ...]:
    """The compute nodes slurm.conf declares: one hostlist per partition, no address."""
    return tuple(StaticNode(hostlist(p.name, p.max)) for p in partitions)


def gpu_vars(cloud: Literal["aws", "azure"], partition: spec.Partition) -> dict[str, object]:
    """A GPU partition's GRES in the slurm role's terms (its nodes' Gres= and gres.conf); nothing for the others."""
    return {"gpus": partition.gpus, "gpu_type": gres_type(cloud, partition)} if partition.gpus else {}


def power_saving_vars(cloud: Literal["aws", "azure"], partitions: Sequence[spec.Partition],
                      scaling: spec.Scaling) -> dict[str, object]:
    """The slurm role's tunables of every node (slurm.conf is the same on all) but the power programs, which are
    each cloud's: the partitions, all CLOUD nodes, the ``min`` ones powered up and kept."""
    return {"slurm_partitions": [{"name": p.name, "nodes": [hostlist(p.name, p.max)], **gpu_vars(cloud, p)}
                                 for p in partitions],
            "slurm_cloud_nodes": [hostlist(p.name, p.max) for p in partitions],
            "slurm_power_up_nodes": [hostlist(p.name, p.min) for p in partitions if p.min],
            "slurm_suspend_timeout": SUSPEND_TIMEOUT, **scaling.slurm_vars()}
