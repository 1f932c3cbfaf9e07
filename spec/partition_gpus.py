"""How many GPUs each node of a partition gives Slurm, judged against the capability tables as the spec loads.

A partition's ``gpus`` defaults to what its (first) machine type has; every type of its ``instance_types`` must have
at least that many, since Slurm declares the same ``Gres`` for every node of the partition, whichever type EC2 had
capacity for. Only whole NVIDIA GPUs count: gres.conf names ``/dev/nvidia<N>`` (a share of a GPU, such as g6f's 1/8
of an L4, or an AMD GPU has no such device). The local target's nodes are namespaces of this machine: no GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spec.errors import invalid
from spec.machine_types import Gpus, gpu_families, gpu_info, known_machine

if TYPE_CHECKING:
    from spec.environment import Partition


def _whole_nvidia(gpus: Gpus | None) -> int:
    """The GPUs Slurm can hand out one by one: whole NVIDIA ones."""
    return gpus.count if gpus and gpus.maker == "NVIDIA" else 0


def _lacks(cloud: str, machine: str, gpus: Gpus | None) -> str:
    """Why ``machine`` gives Slurm no GPU, in words."""
    if not known_machine(cloud, machine):
        return f"{machine} is not in the {cloud} capability table, so its GPUs cannot be shown"
    if gpus is None:
        return f"{machine} has no GPU; GPU families: {gpu_families(cloud)}"
    if gpus.maker != "NVIDIA":
        return f"{machine} has {gpus.describe()}, and gres.conf names NVIDIA devices only"
    return f"{machine} has {gpus.describe()}, not a whole GPU Slurm can count"


def fit_gpus(target: str, partition: Partition, at: str) -> int:
    """The GPUs per node of ``partition`` (at spec field ``at``): the one given, else its first type's; a
    :func:`spec.errors.invalid` naming the field, the value and what is allowed when a type cannot give them."""
    given = "gpus" in partition.model_fields_set
    if target == "local":
        if given and partition.gpus:
            raise invalid("0 on target local (its nodes are namespaces of this machine, which has no GPU to give "
                          "them)", f"{at}.gpus", partition.gpus)
        return 0
    types = partition.instance_types
    first = gpu_info(target, types[0])
    wanted = partition.gpus if given else _whole_nvidia(first)
    if wanted == 0:
        return 0
    if first is None or _whole_nvidia(first) == 0:
        raise invalid(f"0 ({_lacks(target, types[0], first)})", f"{at}.gpus", wanted)
    if wanted > first.count:
        raise invalid(f"0 to {first.count} ({types[0]} has {first.describe()})", f"{at}.gpus", wanted)
    for order, machine in enumerate(types[1:], start=1):
        gpus = gpu_info(target, machine)
        if _whole_nvidia(gpus) < wanted:
            why = f"{machine} has {gpus.describe()}" if gpus and _whole_nvidia(gpus) else \
                _lacks(target, machine, gpus)
            raise invalid(f"a type with at least the partition's {wanted} GPUs, as Slurm declares them on every node "
                          f"({why})", f"{at}.instance_types[{order}]", machine)
    return wanted


def gres_type(target: str, partition: Partition) -> str:
    """The GRES type of the partition's GPUs (``t4``), or ``""`` when its types' models differ (then plain
    ``gpu:N``, which any of them satisfies)."""
    models = {gpus.slurm_type for machine in partition.instance_types if (gpus := gpu_info(target, machine))}
    return models.pop() if len(models) == 1 else ""
