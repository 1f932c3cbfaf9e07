"""Destroy's first step on Azure, with the real Azure SDK against the local Resource Manager (Microsoft.Compute's VM
life from fake_compute.py): the VMs this environment's head created are deleted, and waited for through their
long-running operations, before Pulumi deletes the scale sets and subnet they hold; the head and another
environment's VMs are left alone. Discovery finds the running ones by the same tags."""

from __future__ import annotations

from typing import Any

import pytest

from spec.outputs import ENVIRONMENT_TAG, NODE_TAG, AzureScope, ComputeFleet
from targets.azure.discovery import compute_nodes, wait_for_nodes
from targets.azure.errors import AzureError
from targets.azure.launched_vms import delete_launched, launched_vms
from targets.azure.session import AzureSession
from tests.aws.mocks import FAKE_ED25519
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm, Reply
from tests.azure.fake_compute import FakeCompute

RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/hpc-rg"
SCOPE = AzureScope(subscription_id=SUBSCRIPTION, resource_group="hpc-rg")


def vm(arm: FakeArm, name: str, tags: dict[str, str], address: str, power: str = "running") -> None:
    """A VM as Azure holds one the head created: its NIC (deleted with it) at ``address``."""
    path = f"{RG}/providers/Microsoft.Compute/virtualMachines/{name}"
    nic = f"{RG}/providers/Microsoft.Network/networkInterfaces/{name}-cluster"
    arm.put(path, {"location": "westeurope", "tags": tags, "properties": {
        "osProfile": {"computerName": name},
        "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": True}}]},
        "instanceView": {"statuses": [{"code": "ProvisioningState/succeeded"}, {"code": f"PowerState/{power}"}]}}})
    arm.put(nic, {"location": "westeurope", "properties": {"primary": True, "virtualMachine": {"id": path},
                                                            "ipConfigurations": [{"name": "cluster", "properties": {
                                                                "primary": True, "privateIPAddress": address}}]}})


@pytest.fixture
def world(arm: FakeArm) -> FakeCompute:
    compute = FakeCompute(arm)
    vm(arm, "cpu-0", {ENVIRONMENT_TAG: "hpc", NODE_TAG: "cpu-0"}, "10.0.1.10")
    vm(arm, "cpu-1", {ENVIRONMENT_TAG: "hpc", NODE_TAG: "cpu-1"}, "10.0.1.11", power="starting")
    vm(arm, "ib-0", {ENVIRONMENT_TAG: "hpc", NODE_TAG: "ib-0"}, "10.0.1.12")
    vm(arm, "hpc-head", {ENVIRONMENT_TAG: "hpc"}, "10.0.0.4")  # Pulumi's, deleted by Pulumi
    vm(arm, "gpu-0", {ENVIRONMENT_TAG: "other", NODE_TAG: "gpu-0"}, "10.0.1.40")  # another environment's
    return compute


def names(arm: FakeArm) -> list[str]:
    return sorted(r["name"] for r in arm.list(f"{RG}/providers/Microsoft.Compute/virtualMachines"))


def test_only_this_environments_head_created_vms_are_deleted_and_waited_for(world: FakeCompute,
                                                                           azure_session: AzureSession) -> None:
    assert launched_vms(azure_session, SCOPE, "hpc") == ["cpu-0", "cpu-1", "ib-0"]
    assert delete_launched(azure_session, SCOPE, "hpc") == ["cpu-0", "cpu-1", "ib-0"]
    assert names(world.arm) == ["gpu-0", "hpc-head"]
    assert world.arm.get(f"{RG}/providers/Microsoft.Network/networkInterfaces/cpu-0-cluster") is None  # with it
    # each deletion followed to its end (the operation polled until it said so), as the SDK's poller does
    assert {op.path.rsplit("/", 1)[1] for op in world.operations.values() if op.kind == "delete" and op.polls >= 2} \
        == {"cpu-0", "cpu-1", "ib-0"}
    assert delete_launched(azure_session, SCOPE, "hpc") == []  # nothing left: nothing asked


def test_a_refused_deletion_is_one_line_naming_the_step_and_what_to_do(world: FakeCompute,
                                                                      azure_session: AzureSession) -> None:
    def refuse(request: Any, match: Any) -> Reply:
        return Reply(403, {"error": {"code": "AuthorizationFailed", "message": "The client does not have "
                                     "authorization to perform action 'Microsoft.Compute/virtualMachines/delete'"}})

    world.arm.route("DELETE", r".*/virtualMachines/[^/]+", refuse)
    with pytest.raises(AzureError) as refused:
        delete_launched(azure_session, SCOPE, "hpc")
    line = str(refused.value)
    assert line.startswith("deleting 3 compute VM(s) hpc's head created in hpc-rg: ") and "\n" not in line
    assert "AuthorizationFailed" in line and line.endswith("then destroy again")


def test_discovery_finds_the_running_vms_tagged_as_this_environments_nodes(world: FakeCompute,
                                                                          azure_session: AzureSession) -> None:
    fleet = ComputeFleet(provider="azure", region="westeurope", tag_key=ENVIRONMENT_TAG, tag_value="hpc",
                         host_key=FAKE_ED25519, expected=1)
    nodes = compute_nodes(azure_session, SCOPE, fleet)
    assert [(n.name, n.address) for n in nodes] == [("cpu-0", "10.0.1.10"), ("ib-0", "10.0.1.12")]
    listed = [r for r in world.arm.requests if r.path.endswith("/virtualMachines")]
    assert listed and all(r.query.get("$expand") == "instanceView" for r in listed)


def test_waiting_for_the_always_on_nodes_says_where_the_head_tells_why_they_did_not_come(
        world: FakeCompute, azure_session: AzureSession) -> None:
    fleet = ComputeFleet(provider="azure", region="westeurope", tag_key=ENVIRONMENT_TAG, tag_value="hpc",
                         host_key=FAKE_ED25519, expected=3)
    with pytest.raises(AzureError) as waited:
        wait_for_nodes(azure_session, SCOPE, fleet, timeout=0.1, poll=0.05)
    assert str(waited.value).startswith("waiting for compute nodes: 2 of 3 VMs tagged chpc:environment=hpc and "
                                        "chpc:node in hpc-rg are running after 0.1 s; look at the head's "
                                        "/var/log/slurm/power.log")
