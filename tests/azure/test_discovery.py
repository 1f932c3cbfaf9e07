"""Scale-set nodes found through the real Azure SDK against the local Resource Manager: only the running VMs of
the stack's own scale set, named by computer name, at their primary NIC's private address, in a stable order; a
contract saved before it named its scale set takes every set carrying the fleet tag, as it did."""

from __future__ import annotations

import pytest

from spec.outputs import AzureScope, ComputeFleet
from targets.azure.discovery import compute_nodes, wait_for_nodes
from targets.azure.errors import AzureError
from tests.aws.mocks import FAKE_ED25519
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm, Reply

GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/hpc-rg"
SCOPE = AzureScope(subscription_id=SUBSCRIPTION, resource_group="hpc-rg")
TAG = ("cloud-hpc-toolkit:fleet", "hpc")


def fleet(expected: int, group: str | None = None) -> ComputeFleet:
    return ComputeFleet(provider="azure", region="westeurope", tag_key=TAG[0], tag_value=TAG[1],
                        host_key=FAKE_ED25519, expected=expected, group=group)


def scale_set(arm: FakeArm, name: str, tags: dict[str, str], vms: dict[str, tuple[str, str, str]]) -> None:
    """A scale set whose VMs are ``instance id -> (computer name, power state, private address)``."""
    path = f"{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
    arm.put(path, {"location": "westeurope", "tags": tags, "sku": {"name": "Standard_HB120rs_v3", "capacity": 4}})
    for instance, (computer, power, address) in vms.items():
        vm = f"{path}/virtualMachines/{instance}"
        arm.put(vm, {"location": "westeurope", "instanceId": instance, "properties": {
            "osProfile": {"computerName": computer},
            "instanceView": {"statuses": [{"code": "ProvisioningState/succeeded"}, {"code": f"PowerState/{power}"}]},
        }})
        arm.put(f"{vm}/networkInterfaces/cluster", {"properties": {
            "primary": True, "virtualMachine": {"id": vm},
            "ipConfigurations": [{"name": "cluster", "properties": {"primary": True, "privateIPAddress": address}}],
        }})


def test_only_the_fleets_running_vms_sorted_by_computer_name(arm: FakeArm, azure_session) -> None:
    scale_set(arm, "hpc-compute", {TAG[0]: TAG[1]}, {
        "3": ("hpc-c000003", "running", "10.0.0.7"), "0": ("hpc-c000000", "running", "10.0.0.5"),
        "1": ("hpc-c000001", "deallocated", "10.0.0.6"), "12": ("hpc-c00000c", "running", "10.0.0.9")})
    scale_set(arm, "other", {TAG[0]: "other-env"}, {"0": ("other-c0", "running", "10.0.0.20")})
    scale_set(arm, "untagged", {}, {"0": ("untagged-c0", "running", "10.0.0.21")})

    nodes = compute_nodes(azure_session, SCOPE, fleet(3))

    assert [(n.name, n.address) for n in nodes] == [("hpc-c000000", "10.0.0.5"), ("hpc-c000003", "10.0.0.7"),
                                                    ("hpc-c00000c", "10.0.0.9")]
    assert {n.host_key for n in nodes} == {FAKE_ED25519}
    vm_lists = [r for r in arm.requests if r.path.endswith("/virtualMachines")]
    assert vm_lists and all(r.query.get("$expand") == "instanceView" for r in vm_lists)  # power state asked


def test_a_contract_naming_its_scale_set_takes_that_set_only(arm: FakeArm, azure_session) -> None:
    scale_set(arm, "hpc-compute", {TAG[0]: TAG[1]}, {"0": ("hpc-c000000", "running", "10.0.0.5")})
    scale_set(arm, "hpc-extra", {TAG[0]: TAG[1]}, {"0": ("extra-c0", "running", "10.0.0.30")})  # tagged by hand
    assert [n.name for n in compute_nodes(azure_session, SCOPE, fleet(1, "hpc-compute"))] == ["hpc-c000000"]
    assert [n.name for n in compute_nodes(azure_session, SCOPE, fleet(2))] == ["extra-c0", "hpc-c000000"]
    with pytest.raises(AzureError, match=r"0 of 1 VMs of scale set hpc-other \(tagged cloud-hpc-toolkit:fleet=hpc\) "
                                         r"in hpc-rg are running after 0.2 s"):
        wait_for_nodes(azure_session, SCOPE, fleet(1, "hpc-other"), timeout=0.2, poll=0.1)


def test_an_empty_group_has_no_nodes(arm: FakeArm, azure_session) -> None:
    arm.put(GROUP, {"location": "westeurope"})
    assert compute_nodes(azure_session, SCOPE, fleet(2)) == []


def test_wait_returns_once_the_fleet_runs(arm: FakeArm, azure_session) -> None:
    scale_set(arm, "hpc-compute", {TAG[0]: TAG[1]}, {"0": ("hpc-c000000", "running", "10.0.0.5"),
                                                          "1": ("hpc-c000001", "running", "10.0.0.6")})
    assert len(wait_for_nodes(azure_session, SCOPE, fleet(2), timeout=5, poll=0.1)) == 2


def test_wait_times_out_naming_how_many_run(arm: FakeArm, azure_session) -> None:
    scale_set(arm, "hpc-compute", {TAG[0]: TAG[1]}, {"0": ("hpc-c000000", "running", "10.0.0.5"),
                                                          "1": ("hpc-c000001", "starting", "10.0.0.6")})
    with pytest.raises(AzureError, match=r"1 of 2 VMs .* in hpc-rg are running after 0.3 s; look at the scale set"):
        wait_for_nodes(azure_session, SCOPE, fleet(2), timeout=0.3, poll=0.1)


def test_a_refused_call_is_one_line_naming_the_step(arm: FakeArm, azure_session) -> None:
    arm.route("GET", r".*/virtualMachineScaleSets", lambda request, match: Reply(403, {"error": {
        "code": "AuthorizationFailed", "message": "The client does not have authorization to perform action"}}))
    with pytest.raises(AzureError) as failure:
        compute_nodes(azure_session, SCOPE, fleet(1))
    message = str(failure.value)
    assert "\n" not in message and message.startswith("listing the compute nodes of the scale set tagged "
                                                       "cloud-hpc-toolkit:fleet=hpc in resource group hpc-rg")
    assert "AuthorizationFailed" in message and "(Reader)" in message
