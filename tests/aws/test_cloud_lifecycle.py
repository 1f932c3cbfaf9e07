"""An AWS environment's whole life through the one backend interface: `up`, finding it by stack, `destroy`.

The Pulumi CLI is the stand-in of ``tests/pulumi_cli`` (the Automation API drives it exactly as it would drive the
real one); AWS is a real moto_server. What runs for real: the spec from the stack file, the offline plan shown
before `up`, the question, the stack recorded before the deployment, the outputs read back through the
Automation API, fleet discovery, the leftover check after destroy and the state folder.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from rich.console import Console

import targets
from remote.readiness import BootTimeout
from spec.loader import load_environment
from spec.outputs import ENVIRONMENT_TAG, Outputs
from targets import pulumi_stack
from targets.cloud import PulumiBackend
from targets.local import keys
from tests.aws import moto_fixture
from tests.aws.mocks import FAKE_ED25519
from tests.aws.test_discovery import head_launched
from tests.pulumi_cli.fixture import FakePulumi

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name
ROOT = Path(__file__).resolve().parents[2]
# Loopback, where no sshd listens: `up` tries the head there (no test reaches an address it does not own) and, with
# the short boot timeout of these tests, names what it was still waiting for. Readiness is tested for real on the
# local target (tests/local) and against real sshds (tests/remote/test_readiness.py).
HEAD = "127.0.0.1"
FLEET_TAG = (ENVIRONMENT_TAG, "hpc-dev")  # with chpc:node: the instances the head launched
DEPLOYED = [("aws:ec2/instance:Instance", "hpc-dev-head"), ("aws:ec2/vpc:Vpc", "hpc-dev-vpc"),
            ("aws:ec2/launchTemplate:LaunchTemplate", "hpc-dev-compute")]


@dataclass(frozen=True)
class Fleet:
    """Compute instances as hpc-dev's head launches them, in its VPC."""

    vpc_id: str
    nodes: list[str]  # their Slurm names, sorted


def contract_of(fleet: Fleet | None = None, volume_id: str | None = None,
                expected: int = 2) -> dict[str, object]:
    """What the hpc stack exports (the outputs contract), for an environment named hpc-dev whose compute nodes are
    ``fleet``'s (launched by its head in its VPC)."""
    scope = {"vpc_id": fleet.vpc_id} if fleet else {}
    return {"target": "aws", "name": "hpc-dev", "region": "us-east-1", "ssh_user": "ec2-user",
            "ssh_private_key": "~/.ssh/id_ed25519",
            "head": {"name": "head", "address": HEAD, "host_key": FAKE_ED25519},
            "computes": [],
            "fleet": {"provider": "aws", "region": "us-east-1", "tag_key": FLEET_TAG[0], "tag_value": FLEET_TAG[1],
                      "host_key": FAKE_ED25519, "expected": expected, **scope},
            "volumes": [{"name": "scratch", "node": "head", "mount": "/scratch", "volume_id": volume_id,
                         "retain": True}] if volume_id else []}


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto: moto_fixture.MotoServer,
          aws_session: moto_fixture.MotoSession, fake_pulumi: FakePulumi,
          user_home: Path) -> moto_fixture.MotoSession:
    """An empty state folder, the user's key (``user_home``), boto3 pointed at moto and a project folder of its own
    (config writes go there, not into the checkout)."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.hpc-dev.yaml"):
        shutil.copy(ROOT / name, project / name)
    monkeypatch.setattr(pulumi_stack, "PROJECT", project)
    monkeypatch.setattr(PulumiBackend, "boot_timeout", 1.0)
    keys.ssh_keypair(user_home / ".ssh" / "id_ed25519", "user@laptop")  # up logs in with it after deploying
    return aws_session


def launch_fleet(session: moto_fixture.MotoSession, count: int, cidr: str = "10.0.0.0/16") -> Fleet:
    """``count`` running instances of hpc-dev's compute partition, as its head launches them, in a VPC of its own."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24"))["Subnet"]["SubnetId"]
    nodes = [f"compute-{index}" for index in range(count)]
    head_launched(ec2, subnet, FLEET_TAG[1], nodes)
    return Fleet(vpc, sorted(nodes))


def tagged_volume(session: moto_fixture.MotoSession) -> str:
    return session.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=10, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": ENVIRONMENT_TAG, "Value": "hpc-dev"}]}])["VolumeId"]


def up(console: Console, *, yes: bool = True, nodes: int | None = None, answer: bool = False) -> Outputs:
    env = load_environment(None, "hpc-dev", pulumi_stack.PROJECT, nodes=nodes)
    return targets.up(env, console, targets.UpRequest(stack="hpc-dev", nodes=nodes, yes=yes,
                                                      confirm=lambda question: answer))


def test_a_stack_deployed_elsewhere_is_found_by_stack(cloud: moto_fixture.MotoSession, fake_pulumi: FakePulumi,
                                                      tmp_path: Path) -> None:
    fleet = launch_fleet(cloud, 2)
    fake_pulumi.deploy("hpc-dev", {**contract_of(fleet), "spark": {
        "provider": "aws", "master": "j-1", "region": "us-east-1", "password": "s3cret-pw"}}, secret=["spark"])
    record = targets.find(None, "hpc-dev")
    assert (record.name, record.target, record.stack) == ("hpc-dev", "aws", "hpc-dev")
    contract = targets.contract(record, Console(quiet=True))
    assert len(contract.computes) == 2 and all(n.host_key == FAKE_ED25519 for n in contract.computes)
    assert contract.spark is not None and contract.spark.password is not None
    assert contract.spark.password.get_secret_value() == "s3cret-pw"  # the secret output, read with --show-secrets
    assert "s3cret-pw" not in repr(contract)
    saved = tmp_path / "state" / "hpc-dev"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in saved.iterdir()} == {
        "outputs.json": 0o600, "deployment.json": 0o600}
    reads = [call for call in fake_pulumi.calls() if call[:2] == ["stack", "output"] and "--show-secrets" in call]
    assert len(reads) == 1  # finding the stack read its outputs; the task's contract is that same read
    # found again by name now, and still read through the stack (the cache is not the source of truth)
    fake_pulumi.deploy("hpc-dev", contract_of(fleet, expected=3))
    assert targets.contract(targets.find("hpc-dev"), Console(quiet=True)).fleet.expected == 3


def test_a_stack_with_nothing_deployed_is_one_line(cloud: moto_fixture.MotoSession, fake_pulumi: FakePulumi) -> None:
    fake_pulumi.deploy("hpc-dev", {})
    with pytest.raises(targets.TargetError, match="stack hpc-dev has no outputs: nothing is deployed there"):
        targets.find(None, "hpc-dev")
    with pytest.raises(targets.TargetError, match="no stack 'spark-dev'"):
        targets.find(None, "spark-dev")


def test_outputs_of_another_project_are_refused_in_one_line(cloud: moto_fixture.MotoSession,
                                                            fake_pulumi: FakePulumi) -> None:
    fake_pulumi.deploy("hpc-dev", {"bucketName": "my-bucket"})
    with pytest.raises(targets.TargetError, match="outputs of stack hpc-dev are not this toolkit's outputs contract"):
        targets.find(None, "hpc-dev")


def test_up_shows_the_plan_and_deploys_nothing_unless_confirmed(cloud: moto_fixture.MotoSession,
                                                                fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    with pytest.raises(targets.TargetError, match="not confirmed: nothing was deployed"):
        up(console, yes=False, answer=False)
    shown = console.export_text()
    assert "hpc-dev on aws (us-east-1):" in shown and "to create" in shown
    assert "create   1 aws:ec2/instance:Instance" in shown
    assert "create   1 aws:ec2/launchTemplate:LaunchTemplate" in shown
    assert "aws:autoscaling/group:Group" not in shown  # the head launches the compute nodes
    assert re.search(r"cost while running: about \$[\d,]+\.\d\d per hour, \$[\d,]+\.\d\d per month", shown), shown
    assert not fake_pulumi.ran("up") and not fake_pulumi.stack_exists("hpc-dev")
    assert not (tmp_path / "state" / "hpc-dev").exists()


def test_up_records_the_stack_deploys_and_waits_for_the_fleet_and_the_boot(cloud: moto_fixture.MotoSession,
                                                                           fake_pulumi: FakePulumi,
                                                                           tmp_path: Path) -> None:
    fleet = launch_fleet(cloud, 2)
    launch_fleet(cloud, 3, cidr="10.1.0.0/16")  # another stack's hpc-dev, in its own VPC
    fake_pulumi.program(contract_of(fleet), resources=DEPLOYED)
    console = Console(record=True, width=200)
    with pytest.raises(BootTimeout) as waited:
        up(console, yes=False, answer=True)
    assert "2 compute nodes running: compute-0" in console.export_text()
    nodes = [node.strip() for node in str(waited.value.node).split(",")]
    assert nodes[0] == "head" and nodes[1:] == fleet.nodes == ["compute-0", "compute-1"]
    assert f"head not reachable yet (gave up on {HEAD}:22" in waited.value.detail
    saved = tmp_path / "state" / "hpc-dev"
    assert json.loads((saved / "deployment.json").read_text()) == {"format": 1, "target": "aws", "stack": "hpc-dev",
                                                                   "region": "us-east-1"}
    assert Outputs.load(saved / "outputs.json") == Outputs.model_validate(contract_of(fleet))
    # a second up shows what the stack already holds
    fake_pulumi.program({key: value for key, value in contract_of().items() if key not in ("head", "fleet")},
                        resources=DEPLOYED)
    console = Console(record=True, width=200)
    up(console)
    assert "3 already in the stack" in console.export_text()


def test_nodes_is_written_to_the_stack_config(cloud: moto_fixture.MotoSession, fake_pulumi: FakePulumi) -> None:
    fake_pulumi.program(contract_of(launch_fleet(cloud, 5), expected=5), resources=DEPLOYED)
    with pytest.raises(BootTimeout):
        up(Console(quiet=True), nodes=5)
    stack_file = yaml.safe_load((pulumi_stack.PROJECT / "Pulumi.hpc-dev.yaml").read_text())
    assert stack_file["config"]["cloud-hpc-toolkit:compute"]["count"] == 5
    deployed_with = json.loads((fake_pulumi.backend / "up-config-hpc-dev.json").read_text())
    assert json.loads(deployed_with["cloud-hpc-toolkit:compute"]["value"])["count"] == 5


def test_an_up_that_dies_half_way_can_be_destroyed(cloud: moto_fixture.MotoSession, fake_pulumi: FakePulumi,
                                                   tmp_path: Path) -> None:
    fake_pulumi.program(contract_of(), resources=DEPLOYED, fail_after=2, error="creating EC2 Instance: "
                        "InsufficientInstanceCapacity")
    with pytest.raises(targets.TargetError, match="pulumi up of stack hpc-dev failed: creating EC2 Instance: "
                                                  "InsufficientInstanceCapacity"):
        up(Console(quiet=True))
    assert fake_pulumi.resources("hpc-dev") == ["hpc-dev-head", "hpc-dev-vpc"]
    assert not (tmp_path / "state" / "hpc-dev" / "outputs.json").exists()
    console = Console(record=True, width=200)
    targets.destroy("hpc-dev", console)
    assert fake_pulumi.resources("hpc-dev") == [] and not (tmp_path / "state" / "hpc-dev").exists()
    assert "checked: nothing tagged chpc:environment=hpc-dev remains" in console.export_text()


def test_a_stack_without_local_state_is_destroyed_through_the_stack(cloud: moto_fixture.MotoSession,
                                                                    fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    kept = tagged_volume(cloud)
    fake_pulumi.deploy("hpc-dev", contract_of(volume_id=kept), resources=DEPLOYED)
    asked: list[tuple[str, list[str]]] = []
    console = Console(record=True, width=200)
    targets.destroy(None, console, lambda name, listed: asked.append((name, listed)) or True, stack="hpc-dev")
    assert asked == [("hpc-dev", [f"{kind} {name}" for kind, name in DEPLOYED])]
    assert fake_pulumi.resources("hpc-dev") == []
    assert f"but the retained volumes {kept}" in console.export_text()
    assert not (tmp_path / "state" / "hpc-dev").exists()


def test_a_stack_whose_deployment_died_elsewhere_is_destroyed_by_stack(cloud: moto_fixture.MotoSession,
                                                                      fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    """Resources and no outputs, nothing here: the environment (its name, region) comes from the stack's config."""
    fake_pulumi.deploy("hpc-dev", {}, resources=DEPLOYED)
    console = Console(record=True, width=200)
    targets.destroy(None, console, stack="hpc-dev")
    assert fake_pulumi.resources("hpc-dev") == [] and fake_pulumi.ran("config", "--show-secrets", "--json")
    assert "checked: nothing tagged chpc:environment=hpc-dev remains" in console.export_text()
    assert not (tmp_path / "state" / "hpc-dev").exists()


def test_destroy_lists_first_and_refuses_without_confirmation(cloud: moto_fixture.MotoSession,
                                                              fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    fake_pulumi.deploy("hpc-dev", contract_of(), resources=DEPLOYED)
    with pytest.raises(targets.TargetError, match="not confirmed"):
        targets.destroy(None, Console(quiet=True), lambda name, listed: False, stack="hpc-dev")
    assert fake_pulumi.resources("hpc-dev") == [name for _, name in DEPLOYED]
    assert not fake_pulumi.ran("destroy")
    assert (tmp_path / "state" / "hpc-dev" / "outputs.json").exists()


def test_destroy_reports_what_is_left_and_keeps_the_state(cloud: moto_fixture.MotoSession, fake_pulumi: FakePulumi,
                                                          tmp_path: Path) -> None:
    fake_pulumi.deploy("hpc-dev", contract_of(), resources=DEPLOYED)
    orphan = tagged_volume(cloud)
    with pytest.raises(targets.TargetError, match=f"1 tagged resource.*{orphan}"):
        targets.destroy(None, Console(quiet=True), stack="hpc-dev")
    assert (tmp_path / "state" / "hpc-dev" / "outputs.json").exists()  # so a second destroy can look again


def test_destroy_names_what_it_keeps_and_reports_the_rest(cloud: moto_fixture.MotoSession, fake_pulumi: FakePulumi,
                                                           tmp_path: Path) -> None:
    """A retained volume, an existing one the stack only attached and the final snapshot of a volume that asked for
    one remain, tagged as the provider leaves them; the snapshot of a volume that did not ask is a leftover."""
    ec2 = cloud.client("ec2")
    retained, existing = tagged_volume(cloud), tagged_volume(cloud)
    snapshots = {name: final_snapshot(cloud, name) for name in ("scratch", "tmp")}
    volumes = [{"name": "keep", "node": "head", "mount": "/keep", "volume_id": retained, "retain": True},
               {"name": "data", "node": "head", "mount": "/data", "volume_id": existing, "existing": True},
               {"name": "scratch", "node": "head", "mount": "/scratch", "volume_id": "vol-0gone",
                "snapshot_on_destroy": True},
               {"name": "tmp", "node": "head", "mount": "/tmp2", "volume_id": "vol-0gone2"}]
    fake_pulumi.deploy("hpc-dev", {**contract_of(), "volumes": volumes}, resources=DEPLOYED)
    with pytest.raises(targets.TargetError, match=rf"destroyed, but 1 tagged resource\(s\) remain: ec2:snapshot "
                                                  rf"{snapshots['tmp']} but the retained volumes {retained}; the "
                                                  rf"existing volumes \(only attached\) {existing}; the final "
                                                  rf"snapshots {snapshots['scratch']}$"):
        targets.destroy(None, Console(quiet=True), stack="hpc-dev")
    ec2.delete_snapshot(SnapshotId=snapshots["tmp"])
    fake_pulumi.deploy("hpc-dev", {**contract_of(), "volumes": volumes}, resources=DEPLOYED)
    console = Console(record=True, width=300)
    targets.destroy(None, console, stack="hpc-dev")
    assert f"checked: nothing tagged {ENVIRONMENT_TAG}=hpc-dev remains but the retained volumes {retained}; the " \
           f"existing volumes (only attached) {existing}; the final snapshots {snapshots['scratch']}" \
           in console.export_text()


def final_snapshot(session: moto_fixture.MotoSession, volume: str) -> str:
    """A snapshot as the provider's final_snapshot leaves it: the volume's tags (default tags included) on it."""
    ec2 = session.client("ec2")
    volume_id = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    tags = [{"Key": ENVIRONMENT_TAG, "Value": "hpc-dev"}, {"Key": "chpc:volume", "Value": volume},
            {"Key": "Name", "Value": f"hpc-dev-{volume}"}]
    snapshot = ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot",
                                                                          "Tags": tags}])["SnapshotId"]
    ec2.delete_volume(VolumeId=volume_id)
    return snapshot


def test_up_names_what_is_missing_when_the_fleet_does_not_come(cloud: moto_fixture.MotoSession,
                                                               fake_pulumi: FakePulumi,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = launch_fleet(cloud, 1)
    fake_pulumi.program(contract_of(fleet, expected=3), resources=DEPLOYED)
    monkeypatch.setattr(PulumiBackend, "fleet_timeout", 0.2)
    with pytest.raises(targets.TargetError, match=f"1 of 3 instances tagged {ENVIRONMENT_TAG}=hpc-dev and "
                                                  f"chpc:node in {fleet.vpc_id} are running in us-east-1 after 0.2 s"):
        up(Console(quiet=True))


def test_destroy_terminates_the_nodes_the_head_launched_before_pulumi_deletes_the_network(
        cloud: moto_fixture.MotoSession, fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch) -> None:
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    mine = head_launched(ec2, subnet, "hpc-dev", ["efa-0", "cpu-4"])
    theirs = head_launched(ec2, subnet, "hpc-prod", ["efa-0"])
    contract = contract_of()
    contract["fleet"] = {"provider": "aws", "region": "us-east-1", "tag_key": ENVIRONMENT_TAG, "tag_value": "hpc-dev",
                         "host_key": FAKE_ED25519, "expected": 1, "vpc_id": vpc}
    fake_pulumi.deploy("hpc-dev", contract, resources=DEPLOYED)
    seen_by_pulumi: list[set[str]] = []
    pulumi_destroy = pulumi_stack.destroy

    def destroy(stack: str, on_line: Callable[[str], None]) -> None:
        running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
        seen_by_pulumi.append({i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]})
        pulumi_destroy(stack, on_line)

    monkeypatch.setattr(pulumi_stack, "destroy", destroy)
    console = Console(record=True, width=300)
    targets.destroy(None, console, stack="hpc-dev")
    ids = sorted(i["InstanceId"] for i in mine)
    assert seen_by_pulumi == [{theirs[0]["InstanceId"]}]  # mine were gone when Pulumi started
    assert f"terminated 2 compute instance(s) the head launched: {', '.join(ids)}" in console.export_text()
    assert fake_pulumi.resources("hpc-dev") == []
