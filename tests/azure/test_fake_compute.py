"""The local Resource Manager's VM routes (fake_compute.py) refuse what Microsoft.Compute refuses, so the power
program's and destroy's tests fail when the code sends a wrong api-version or a VM body ARM cannot read; and a body
the power program builds passes them (its own tests run it against these routes)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.boot.azure_power import COMPUTE_API, Config, vm_body
from targets.azure.session import AzureSession
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm
from tests.azure.fake_compute import FakeCompute
from tests.azure.test_azure_power import partition
from tests.azure.test_fake_arm import send

VM = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/hpc-dev-rg/providers/Microsoft.Compute/virtualMachines/cpu-0"
CONFIG = Config(environment="hpc-dev", subscription_id=SUBSCRIPTION, resource_group="hpc-dev-rg", client_id="c",
                bundle_dir="/opt/b", fetcher_path="/run/f", boot_path="/run/b", partitions={
                    "cpu": partition("cpu", ("Standard_D4s_v5",), ("Standard_D4s_v5",), {"offer": "o"})})


def body(spot: bool = False) -> dict[str, Any]:
    return vm_body(CONFIG, "cpu-0", "Standard_D4s_v5", spot, "I2Nsb3VkLWNvbmZpZw==")


def without(path: tuple[str, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(body())
    where = changed
    for key in path[:-1]:
        where = where[key]
    del where[path[-1]]
    return changed


@pytest.mark.parametrize(("sent", "problem"), [
    (without(("properties", "hardwareProfile")), "vmSize"),
    (without(("location",)), "location"),
    (without(("properties", "storageProfile", "imageReference")), "imageReference"),
    (without(("properties", "osProfile", "computerName")), "computerName"),
    (without(("properties", "networkProfile", "networkApiVersion")), "networkApiVersion"),
    ({**body(), "properties": {**body()["properties"], "priority": "Spot"}}, "evictionPolicy goes with Spot"),
    ({**body(True), "properties": {**body(True)["properties"], "priority": "Low"}}, "Regular or Spot"),
])
def test_a_vm_body_arm_cannot_read_is_refused_and_not_stored(arm: FakeArm, azure_session: AzureSession,
                                                             sent: dict[str, Any], problem: str) -> None:
    FakeCompute(arm)
    status, answer = send(azure_session, "PUT", VM, COMPUTE_API, sent)
    assert status == 400 and problem in answer["error"]["message"]
    assert arm.get(VM) is None


@pytest.mark.parametrize("version", ["2099-01-01", "2021-03-01", "2024-05-01"])
def test_an_api_version_compute_does_not_serve_is_refused(arm: FakeArm, azure_session: AzureSession,
                                                          version: str) -> None:
    FakeCompute(arm)
    status, answer = send(azure_session, "PUT", VM, version, body())
    assert status == 400 and "api-version" in answer["error"]["message"]
    assert send(azure_session, "DELETE", VM, version)[0] == 400


def test_the_power_programs_bodies_are_taken(arm: FakeArm, azure_session: AzureSession) -> None:
    FakeCompute(arm)
    for spot in (True, False):
        status, answer = send(azure_session, "PUT", VM, COMPUTE_API, body(spot))
        assert (status, answer["properties"]["provisioningState"]) == (201, "Creating")
        arm.delete(VM)
