"""The head's availability zone: zone 1 where a Premium SSD v2 volume needs a zonal VM (a region with zones), none
elsewhere or for other disk types."""

from __future__ import annotations

import pytest

from components.azure.zones import NO_ZONE_REGIONS, head_zone
from spec.environment import Volume


def volumes(*types: str) -> list[Volume]:
    return [Volume(name=f"v{index}", size_gb=64, mount=f"/v{index}", type=kind) for index, kind in enumerate(types)]


@pytest.mark.parametrize("region", ["westeurope", "eastus", "swedencentral", "spaincentral"])
def test_premium_ssd_v2_in_a_region_with_zones_puts_the_head_in_zone_1(region: str) -> None:
    assert head_zone(region, volumes("Premium_LRS", "PremiumV2_LRS")) == "1"


@pytest.mark.parametrize("region", ["westus", "northcentralus", "ukwest", "canadaeast"])
def test_premium_ssd_v2_in_a_region_without_zones_stays_regional(region: str) -> None:
    assert region in NO_ZONE_REGIONS and head_zone(region, volumes("PremiumV2_LRS")) is None


def test_other_disk_types_and_no_disks_need_no_zone() -> None:
    assert head_zone("westeurope", volumes("Premium_LRS", "StandardSSD_LRS", "Standard_LRS")) is None
    assert head_zone("westeurope", []) is None
