"""One Slurm partition's Azure side: a Flexible scale set its nodes' VMs join. It starts nothing: the head's resume
program (``components/boot/azure_power.py``) creates each node's VM in it, named for the node, when Slurm wants it, and
deletes exactly that VM when Slurm is done with it; so the resources do not grow with ``max`` or ``min``.

Flexible, not Uniform: a Uniform scale set names its instances itself and grows by capacity, while a Flexible one
takes VMs created with ``virtualMachineScaleSet: {id}``, each a VM of its own (its name, size and priority), which is
what lets a partition try its sizes in order and mix Spot with regular VMs. No VM profile and no capacity: the VMs
carry their whole definition. One fault domain: tightly coupled MPI nodes, as close as the proximity placement group
(shared with the head) keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.compute as compute
from pulumi import Input

from spec import environment as spec


@dataclass(frozen=True)
class AzurePartitionArgs:
    cluster_name: str
    partition: spec.Partition
    resource_group_name: Input[str]
    location: str
    placement_group_id: Input[str]
    zone: str | None
    tags: dict[str, str]
    os_disk_type: str  # what its VMs boot from, which the plan prices (the VMs carry their own definition)
    os_disk_gb: int


class AzureComputePartition(pulumi.ComponentResource):
    """A partition's Flexible scale set."""

    scale_set_id: pulumi.Output[str]
    scale_set_name: pulumi.Output[str]

    def __init__(self, name: str, args: AzurePartitionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cloud-hpc-toolkit:azure:ComputePartition", name, None, opts)
        partition = args.partition
        scale_set = compute.VirtualMachineScaleSet(
            name, vm_scale_set_name=f"{args.cluster_name}-{partition.name}", orchestration_mode="Flexible",
            platform_fault_domain_count=1, proximity_placement_group=compute.SubResourceArgs(
                id=args.placement_group_id),
            zones=[args.zone] if args.zone else None, resource_group_name=args.resource_group_name,
            location=args.location,
            # what the plan prices: the always-on nodes (first size, OS disk), and how many it may grow to
            tags={**args.tags, "chpc:partition": partition.name, "chpc:min": str(partition.min),
                  "chpc:max": str(partition.max), "chpc:vm-size": partition.instance_type or "",
                  "chpc:os-disk-type": args.os_disk_type, "chpc:os-disk-gb": str(args.os_disk_gb)},
            opts=pulumi.ResourceOptions(parent=self))
        self.scale_set_id = scale_set.id
        self.scale_set_name = scale_set.name
        self.register_outputs({"scale_set_id": self.scale_set_id, "scale_set_name": self.scale_set_name})
