"""The availability zone of a head whose data disks are Premium SSD v2, or None where it needs none.

Microsoft's "Deploy a Premium SSD v2" (limitations): in most regions that support availability zones a Premium SSD
v2 disk attaches only to a zonal VM, and must be created in that VM's zone; in a region without zones it is a
non-zonal disk on a non-zonal VM. (The few zonal regions that also take non-zonal Premium SSD v2 take zonal ones as
well.) So with a ``PremiumV2_LRS`` volume the head and its disks go to zone 1 in a region with zones, and the compute
scale set with them: head and compute nodes share one proximity placement group, in one datacenter.

Regions without availability zones, from Azure's regions list (learn.microsoft.com/azure/reliability/regions-list,
dated 2025-09-23). Any other region is taken to have them, as every region opened lately has (Austria East, Belgium
Central, Chile Central, Indonesia Central, Malaysia West, Mexico Central, New Zealand North, Spain Central).
"""

from __future__ import annotations

from collections.abc import Sequence

from spec import environment as spec

ZONE = "1"
ZONAL_ONLY_DISK_TYPES = ("PremiumV2_LRS",)
NO_ZONE_REGIONS = frozenset({
    "australiacentral", "australiacentral2", "australiasoutheast", "brazilsoutheast", "canadaeast", "francesouth",
    "germanynorth", "koreasouth", "northcentralus", "norwaywest", "southafricawest", "southindia",
    "switzerlandwest", "uaecentral", "ukwest", "westcentralus", "westindia", "westus",
})


def head_zone(region: str, volumes: Sequence[spec.Volume]) -> str | None:
    """Zone 1 when a head volume is of a type that attaches to zonal VMs only and ``region`` has zones."""
    needs_zone = any(volume.type in ZONAL_ONLY_DISK_TYPES for volume in volumes)
    return ZONE if needs_zone and region.lower() not in NO_ZONE_REGIONS else None
