"""An Azure environment's life through the one backend interface, with the real Azure SDK against the local
Resource Manager and the stand-in Pulumi CLI (``tests/pulumi_cli``) behind the Automation API. The credential
chain is pointed at the local server; the plan, the question, the stack record, discovery, the leftover check and
the state folder run for real."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

import targets
from remote.readiness import BootTimeout
from spec.loader import load_environment
from spec.outputs import ENVIRONMENT_TAG, NODE_TAG
from targets import pulumi_stack
from targets.azure import session as azure_session_module
from targets.cloud import PulumiBackend
from targets.local import keys
from tests.aws.mocks import FAKE_ED25519
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm
from tests.azure.fake_compute import FakeCompute
from tests.azure.test_discovery import TAG, scale_set
from tests.azure.test_launched_vms import vm
from tests.pulumi_cli.fixture import FakePulumi

ROOT = Path(__file__).resolve().parents[2]
NAME = "azure-hpc-dev"  # the environment of stack azure-hpc-dev
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"
DISK = f"{GROUP}/{NAME}-data1/providers/Microsoft.Compute/disks/{NAME}-scratch"
DEPLOYED = [("azure-native:compute:VirtualMachine", f"{NAME}-head"),
            ("azure-native:compute:VirtualMachineScaleSet", f"{NAME}-compute")]
CONTRACT = {
    "target": "azure", "name": NAME, "region": "westeurope", "ssh_user": "azureuser",
    "ssh_private_key": "~/.ssh/id_ed25519",
    # loopback, where no sshd listens: `up` tries the head there and, with the tests' short boot timeout, names
    # what it still waited for (readiness is tested for real in tests/local and tests/remote/test_readiness.py)
    "head": {"name": "head", "address": "127.0.0.1", "host_key": FAKE_ED25519}, "computes": [],
    "fleet": {"provider": "azure", "region": "westeurope", "tag_key": TAG[0], "tag_value": TAG[1],
              "host_key": FAKE_ED25519, "expected": 2, "group": f"{NAME}-compute"},
    "volumes": [{"name": "scratch", "node": "head", "mount": "/scratch", "device": "/dev/disk/azure/scsi1/lun0",
                 "volume_id": DISK, "retain": True}],
    "azure": {"subscription_id": SUBSCRIPTION, "resource_group": "hpc-rg"},
}
TWO_NODES = {"0": ("hpc-c000000", "running", "10.0.0.5"), "1": ("hpc-c000001", "running", "10.0.0.6")}


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arm: FakeArm, azure_session,
          fake_pulumi: FakePulumi, user_home: Path) -> FakeArm:
    """An empty state folder, the user's key (``user_home``), the Azure SDK pointed at the local Resource Manager,
    a retained disk in its kept data group, and a project folder of its own."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(azure_session_module, "for_scope", lambda scope: azure_session)
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", f"Pulumi.{NAME}.yaml"):
        shutil.copy(ROOT / name, project / name)
    monkeypatch.setattr(pulumi_stack, "PROJECT", project)
    monkeypatch.setattr(PulumiBackend, "boot_timeout", 1.0)
    keys.ssh_keypair(user_home / ".ssh" / "id_ed25519", "user@laptop")  # up logs in with it after deploying
    arm.put(f"{GROUP}/{NAME}-data1", {"location": "westeurope", "tags": {ENVIRONMENT_TAG: NAME}})
    arm.put(DISK, {"location": "westeurope", "tags": {ENVIRONMENT_TAG: NAME}})
    return arm


def up(console: Console) -> object:
    env = load_environment(None, NAME, pulumi_stack.PROJECT)
    return targets.up(env, console, targets.UpRequest(stack=NAME, yes=True))


def test_a_stack_deployed_elsewhere_finds_the_scale_sets_nodes(cloud: FakeArm, fake_pulumi: FakePulumi) -> None:
    fake_pulumi.deploy(NAME, CONTRACT, resources=DEPLOYED)
    scale_set(cloud, f"{NAME}-compute", {TAG[0]: TAG[1]}, TWO_NODES)
    contract = targets.contract(targets.find(None, NAME), Console(quiet=True))
    assert [(n.name, n.address, n.host_key) for n in contract.computes] == [
        ("hpc-c000000", "10.0.0.5", FAKE_ED25519), ("hpc-c000001", "10.0.0.6", FAKE_ED25519)]


def test_destroy_keeps_the_retained_disk_and_clears_the_state(cloud: FakeArm, fake_pulumi: FakePulumi,
                                                              tmp_path: Path) -> None:
    fake_pulumi.deploy(NAME, CONTRACT, resources=DEPLOYED)
    console = Console(record=True, width=200)
    targets.destroy(None, console, stack=NAME)
    assert fake_pulumi.resources(NAME) == [] and not (tmp_path / "state" / NAME).exists()
    assert "but the retained volumes" in console.export_text()


def test_destroy_names_an_existing_disk_it_only_attached_as_kept(cloud: FakeArm, fake_pulumi: FakePulumi) -> None:
    """An existing disk carrying the environment's tag (one an earlier environment of this name made, say) is not
    reported as left behind: the stack only attached it."""
    existing = f"{GROUP}/archive-rg/providers/Microsoft.Compute/disks/archive"
    cloud.put(existing, {"location": "westeurope", "tags": {ENVIRONMENT_TAG: NAME}})
    volumes = [*CONTRACT["volumes"], {"name": "archive", "node": "head", "mount": "/archive",
                                      "device": "/dev/disk/azure/scsi1/lun1", "volume_id": existing, "existing": True}]
    fake_pulumi.deploy(NAME, {**CONTRACT, "volumes": volumes}, resources=DEPLOYED)
    console = Console(record=True, width=400)
    targets.destroy(None, console, stack=NAME)
    assert f"remains but the retained volumes {DISK}; the existing volumes (only attached) {existing}" \
        in console.export_text()


def test_destroy_reports_what_is_left(cloud: FakeArm, fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    fake_pulumi.deploy(NAME, CONTRACT, resources=DEPLOYED)
    cloud.put(f"{GROUP}/hpc-rg/providers/Microsoft.Network/natGateways/{NAME}-nat",
              {"location": "westeurope", "tags": {ENVIRONMENT_TAG: NAME}})
    with pytest.raises(targets.TargetError, match=rf"1 tagged resource\(s\) remain: .*natGateways {NAME}-nat"):
        targets.destroy(None, Console(quiet=True), stack=NAME)
    assert (tmp_path / "state" / NAME / "outputs.json").exists()  # kept, so a second destroy can look again


def test_a_deployment_that_died_says_where_the_leftover_check_could_not_look(cloud: FakeArm, fake_pulumi: FakePulumi,
                                                                             tmp_path: Path) -> None:
    fake_pulumi.program(CONTRACT, resources=DEPLOYED, fail_after=1, error="quota exceeded")
    with pytest.raises(targets.TargetError, match="quota exceeded"):
        up(Console(quiet=True))
    console = Console(record=True, width=200)
    targets.destroy(NAME, console)
    assert fake_pulumi.resources(NAME) == [] and not (tmp_path / "state" / NAME).exists()
    assert f"not checked for leftovers: the stack never gave the outputs that say where to look; look for the tag " \
           f"{ENVIRONMENT_TAG}={NAME}" in " ".join(console.export_text().split())


def test_up_waits_for_the_scale_set_then_for_every_node_to_boot(cloud: FakeArm, fake_pulumi: FakePulumi) -> None:
    fake_pulumi.program(CONTRACT, resources=DEPLOYED)
    scale_set(cloud, f"{NAME}-compute", {TAG[0]: TAG[1]}, TWO_NODES)
    scale_set(cloud, "made-by-hand", {TAG[0]: TAG[1]}, {"0": ("other-c0", "running", "10.0.0.30")})  # not the stack's
    console = Console(record=True, width=200)
    with pytest.raises(BootTimeout) as waited:
        up(console)
    assert "2 compute nodes running: hpc-c000000, hpc-c000001" in console.export_text()
    assert waited.value.node == "head, hpc-c000000, hpc-c000001"


def test_up_names_what_is_missing_when_the_fleet_does_not_come(cloud: FakeArm, fake_pulumi: FakePulumi,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pulumi.program(CONTRACT, resources=DEPLOYED)
    monkeypatch.setattr(PulumiBackend, "fleet_timeout", 0.2)
    scale_set(cloud, f"{NAME}-compute", {TAG[0]: TAG[1]}, {"0": TWO_NODES["0"]})
    with pytest.raises(targets.TargetError, match=rf"1 of 2 VMs of scale set {NAME}-compute .* running after 0.2 s"):
        up(Console(quiet=True))


def test_destroy_deletes_the_vms_the_head_created_before_pulumi_runs(cloud: FakeArm, fake_pulumi: FakePulumi,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCompute(cloud)
    for node, environment in (("cpu-0", NAME), ("ib-1", NAME), ("ib-0", "azure-hpc-prod")):
        vm(cloud, node, {ENVIRONMENT_TAG: environment, NODE_TAG: node}, "10.0.1.9")
    fleet = {**CONTRACT["fleet"], "tag_key": ENVIRONMENT_TAG, "tag_value": NAME, "group": None}
    fake_pulumi.deploy(NAME, {**CONTRACT, "fleet": fleet}, resources=DEPLOYED)
    seen_by_pulumi: list[list[str]] = []
    pulumi_destroy = pulumi_stack.destroy

    def destroy(stack: str, on_line: Callable[[str], None]) -> None:
        seen_by_pulumi.append(sorted(r["name"] for r in cloud.list(
            f"{GROUP}/hpc-rg/providers/Microsoft.Compute/virtualMachines")))
        pulumi_destroy(stack, on_line)

    monkeypatch.setattr(pulumi_stack, "destroy", destroy)
    console = Console(record=True, width=300)
    targets.destroy(None, console, stack=NAME)
    assert seen_by_pulumi == [["ib-0"]]  # this environment's were gone when Pulumi started; another's stays
    assert "deleted 2 compute VM(s) the head created: cpu-0, ib-1" in console.export_text()
    assert fake_pulumi.resources(NAME) == []
