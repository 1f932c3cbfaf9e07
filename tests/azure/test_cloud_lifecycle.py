"""`targets.outputs` / `targets.destroy` for an Azure environment, through the real SDK against the local
Resource Manager. Only the Pulumi CLI calls are replaced (the CLI does not exist here) and the credential
chain is pointed at the local server; the confirmation, discovery, the leftover check and the state folder
run for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

import targets
from spec.loader import load_stack_config
from spec.outputs import ENVIRONMENT_TAG, AzureScope, ComputeFleet, Node, Outputs, Volume
from targets import pulumi_stack
from targets.azure import session as azure_session_module
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm
from tests.azure.test_discovery import TAG, scale_set

ROOT = Path(__file__).resolve().parents[2]
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"
DISK = f"{GROUP}/cloudtest-data1/providers/Microsoft.Compute/disks/cloudtest-scratch"


@pytest.fixture
def cloud_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arm: FakeArm, azure_session) -> list[str]:
    """A saved Azure environment "cloudtest" with a retained disk in its kept data group."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(azure_session_module, "for_scope", lambda scope: azure_session)
    arm.put(f"{GROUP}/cloudtest-data1", {"location": "westeurope", "tags": {ENVIRONMENT_TAG: "cloudtest"}})
    arm.put(DISK, {"location": "westeurope", "tags": {ENVIRONMENT_TAG: "cloudtest"}})
    Outputs(target="azure", name="cloudtest", region="westeurope", ssh_user="azureuser", ssh_private_key="/k",
            head=Node(name="head", address="198.51.100.10", host_key="ssh-ed25519 AAAAhead"),
            fleet=ComputeFleet(provider="azure", region="westeurope", tag_key=TAG[0], tag_value=TAG[1],
                               host_key="ssh-ed25519 AAAAfleet", expected=2),
            volumes=[Volume(name="scratch", node="head", mount="/scratch", device="/dev/disk/azure/scsi1/lun0",
                            volume_id=DISK, retain=True)],
            azure=AzureScope(subscription_id=SUBSCRIPTION, resource_group="hpc-rg"),
            ).save(tmp_path / "cloudtest" / "outputs.json")
    (tmp_path / "cloudtest" / "stack").write_text("azure-hpc-dev")
    calls: list[str] = []
    monkeypatch.setattr(pulumi_stack, "resources", lambda stack: calls.append(f"list {stack}") or
                        ["azure-native:compute:VirtualMachine cloudtest-head"])
    monkeypatch.setattr(pulumi_stack, "destroy", lambda stack, console: calls.append(f"destroy {stack}"))
    return calls


def test_outputs_find_the_scale_sets_nodes(cloud_env: list[str], arm: FakeArm) -> None:
    scale_set(arm, "cloudtest-compute", {TAG[0]: TAG[1]}, {"0": ("hpc-c000000", "running", "10.0.0.5"),
                                                                "1": ("hpc-c000001", "running", "10.0.0.6")})
    contract = targets.outputs("cloudtest")
    assert [(n.name, n.address, n.host_key) for n in contract.computes] == [
        ("hpc-c000000", "10.0.0.5", "ssh-ed25519 AAAAfleet"), ("hpc-c000001", "10.0.0.6", "ssh-ed25519 AAAAfleet")]


def test_destroy_keeps_the_retained_disk_and_clears_the_state(cloud_env: list[str], tmp_path: Path) -> None:
    targets.destroy("cloudtest", Console(quiet=True))
    assert cloud_env == ["list azure-hpc-dev", "destroy azure-hpc-dev"] and not (tmp_path / "cloudtest").exists()


def test_destroy_reports_what_is_left(cloud_env: list[str], arm: FakeArm, tmp_path: Path) -> None:
    arm.put(f"{GROUP}/hpc-rg/providers/Microsoft.Network/natGateways/cloudtest-nat",
                 {"location": "westeurope", "tags": {ENVIRONMENT_TAG: "cloudtest"}})
    with pytest.raises(targets.TargetError, match=r"1 tagged resource\(s\) remain: .*natGateways cloudtest-nat"):
        targets.destroy("cloudtest", Console(quiet=True))
    assert (tmp_path / "cloudtest" / "outputs.json").exists()  # kept, so a second destroy can look again


def test_up_waits_for_the_scale_set_and_says_which_nodes_run(cloud_env: list[str], arm: FakeArm, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    saved = Outputs.load(tmp_path / "cloudtest" / "outputs.json")
    monkeypatch.setattr(pulumi_stack, "up", lambda env, stack, console: saved)
    scale_set(arm, "cloudtest-compute", {TAG[0]: TAG[1]}, {"0": ("hpc-c000000", "running", "10.0.0.5"),
                                                           "1": ("hpc-c000001", "running", "10.0.0.6")})
    console = Console(record=True, width=200)
    assert targets.up(load_stack_config("azure-hpc-dev", ROOT), console, stack="azure-hpc-dev") == saved
    assert "2 compute nodes running: hpc-c000000, hpc-c000001" in console.export_text()


def test_up_names_what_is_missing_when_the_fleet_does_not_come(cloud_env: list[str], arm: FakeArm, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    saved = Outputs.load(tmp_path / "cloudtest" / "outputs.json")
    monkeypatch.setattr(pulumi_stack, "up", lambda env, stack, console: saved)
    monkeypatch.setattr(targets, "FLEET_TIMEOUT", 0.2)
    scale_set(arm, "cloudtest-compute", {TAG[0]: TAG[1]}, {"0": ("hpc-c000000", "running", "10.0.0.5")})
    with pytest.raises(targets.TargetError, match=r"1 of 2 VMs of the scale set .* running after 0.2 s"):
        targets.up(load_stack_config("azure-hpc-dev", ROOT), Console(quiet=True), stack="azure-hpc-dev")
