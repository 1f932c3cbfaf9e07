"""The check after `destroy` on Azure, through the real SDK against the local Resource Manager: whatever
still carries the environment's tag is reported, resource groups included, except the retained disks and
the kept group that holds them."""

from __future__ import annotations

from spec.outputs import ENVIRONMENT_TAG
from targets.azure.leftovers import tagged_leftovers
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm

SUB = f"/subscriptions/{SUBSCRIPTION}"
ENV = {ENVIRONMENT_TAG: "hpc"}


def seed(arm: FakeArm, path: str, tags: dict[str, str]) -> str:
    arm.put(SUB + path, {"location": "westeurope", "tags": tags})
    return SUB + path


def test_nothing_left_is_an_empty_list(arm: FakeArm, azure_session) -> None:
    seed(arm, "/resourceGroups/other-rg", {ENVIRONMENT_TAG: "other"})
    seed(arm, "/resourceGroups/other-rg/providers/Microsoft.Compute/disks/d", {ENVIRONMENT_TAG: "other"})
    assert tagged_leftovers(azure_session, ENVIRONMENT_TAG, "hpc") == []


def test_tagged_resources_and_groups_are_reported(arm: FakeArm, azure_session) -> None:
    seed(arm, "/resourceGroups/hpc-rg1234", ENV)
    seed(arm, "/resourceGroups/hpc-rg1234/providers/Microsoft.Network/publicIPAddresses/hpc-head-ip", ENV)
    seed(arm, "/resourceGroups/elsewhere/providers/Microsoft.Compute/virtualMachineScaleSets/hpc-compute", ENV)
    seed(arm, "/resourceGroups/elsewhere/providers/Microsoft.Compute/disks/untagged", {})
    assert tagged_leftovers(azure_session, ENVIRONMENT_TAG, "hpc") == [
        "Microsoft.Compute/virtualMachineScaleSets hpc-compute (elsewhere)",
        "Microsoft.Network/publicIPAddresses hpc-head-ip (hpc-rg1234)",
        "Microsoft.Resources/resourceGroups hpc-rg1234",
    ]


def test_retained_disks_and_their_group_are_kept_but_nothing_else(arm: FakeArm, azure_session) -> None:
    seed(arm, "/resourceGroups/hpc-data99", {**ENV, "chpc:retained": "true"})
    kept = seed(arm, "/resourceGroups/hpc-data99/providers/Microsoft.Compute/disks/hpc-scratch", ENV)
    seed(arm, "/resourceGroups/hpc-data99/providers/Microsoft.Compute/disks/hpc-tmp", ENV)  # not retained
    # Azure ids come back in any case: the comparison must not depend on it.
    left = tagged_leftovers(azure_session, ENVIRONMENT_TAG, "hpc", keep={kept.upper()})
    assert left == ["Microsoft.Compute/disks hpc-tmp (hpc-data99)"]
