"""`targets.destroy` / `targets.outputs` for an AWS environment, against a real moto_server.

The Pulumi CLI calls (`pulumi_stack.resources` / `.destroy`) are the only parts replaced: the CLI does
not exist here. Everything after them (the confirmation, the tag check with boto3, discovery of the
compute fleet, the state folder) runs for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

import targets
from spec.loader import load_stack_config
from spec.outputs import ENVIRONMENT_TAG, ComputeFleet, Node, Outputs, Volume
from targets import pulumi_stack
from tests.aws import moto_fixture

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name
ROOT = Path(__file__).resolve().parents[2]
FLEET_TAG = ("cloud-hpc-toolkit:fleet", "cloudtest")


@pytest.fixture
def cloud_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto: moto_fixture.MotoServer,
              aws_session: moto_fixture.MotoSession) -> tuple[moto_fixture.MotoSession, list[str]]:
    """A saved AWS environment "cloudtest"; plain boto3 sessions reach moto through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    ec2 = aws_session.client("ec2")
    kept = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": ENVIRONMENT_TAG, "Value": "cloudtest"}]}])["VolumeId"]
    Outputs(target="aws", name="cloudtest", region="us-east-1", ssh_user="ec2-user", ssh_private_key="/k",
            head=Node(name="head", address="198.51.100.10", host_key="ssh-ed25519 AAAAhead"),
            fleet=ComputeFleet(provider="aws", region="us-east-1", tag_key=FLEET_TAG[0], tag_value=FLEET_TAG[1],
                               host_key="ssh-ed25519 AAAAfleet", expected=2),
            volumes=[Volume(name="scratch", node="head", mount="/scratch", volume_id=kept, retain=True)],
            ).save(tmp_path / "cloudtest" / "outputs.json")
    (tmp_path / "cloudtest" / "stack").write_text("hpc-dev")
    calls: list[str] = []
    monkeypatch.setattr(pulumi_stack, "resources", lambda stack: calls.append(f"list {stack}") or
                        ["aws:ec2/instance:Instance cloudtest-head"])
    monkeypatch.setattr(pulumi_stack, "destroy", lambda stack, console: calls.append(f"destroy {stack}"))
    return aws_session, calls


def launch_fleet(session: moto_fixture.MotoSession, count: int) -> None:
    """``count`` running instances carrying the fleet's tag, in a subnet of their own."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ec2.run_instances(ImageId="ami-12345678", InstanceType="c5n.large", MinCount=count, MaxCount=count,
                      SubnetId=subnet, TagSpecifications=[{"ResourceType": "instance",
                                                           "Tags": [{"Key": FLEET_TAG[0], "Value": FLEET_TAG[1]}]}])


def test_outputs_find_the_compute_fleet_by_tag(cloud_env: tuple[moto_fixture.MotoSession, list[str]]) -> None:
    session, _ = cloud_env
    launch_fleet(session, 2)
    contract = targets.outputs("cloudtest")
    assert len(contract.computes) == 2
    assert all(n.host_key == "ssh-ed25519 AAAAfleet" and n.address.startswith("10.0.1.") for n in contract.computes)


def test_destroy_lists_first_and_refuses_without_confirmation(
        cloud_env: tuple[moto_fixture.MotoSession, list[str]], tmp_path: Path) -> None:
    _, calls = cloud_env
    seen: list[list[str]] = []
    with pytest.raises(targets.TargetError, match="not confirmed"):
        targets.destroy("cloudtest", Console(quiet=True), lambda listed: seen.append(listed) or False)
    assert seen == [["aws:ec2/instance:Instance cloudtest-head"]] and calls == ["list hpc-dev"]
    assert (tmp_path / "cloudtest" / "outputs.json").exists()


def test_destroy_checks_leftovers_but_keeps_retained_volumes(
        cloud_env: tuple[moto_fixture.MotoSession, list[str]], tmp_path: Path) -> None:
    session, calls = cloud_env
    targets.destroy("cloudtest", Console(quiet=True))  # only the retained volume carries the tag
    assert calls == ["list hpc-dev", "destroy hpc-dev"] and not (tmp_path / "cloudtest").exists()


def test_destroy_reports_what_is_left(cloud_env: tuple[moto_fixture.MotoSession, list[str]]) -> None:
    session, _ = cloud_env
    orphan = session.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=5, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": ENVIRONMENT_TAG, "Value": "cloudtest"}]}])["VolumeId"]
    with pytest.raises(targets.TargetError, match=f"1 tagged resource.*{orphan}"):
        targets.destroy("cloudtest", Console(quiet=True))


def test_up_waits_for_the_fleet_and_says_which_nodes_run(cloud_env: tuple[moto_fixture.MotoSession, list[str]],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = cloud_env
    saved = Outputs.load(tmp_path / "cloudtest" / "outputs.json")
    monkeypatch.setattr(pulumi_stack, "up", lambda env, stack, console: saved)
    launch_fleet(session, 2)
    console = Console(record=True, width=200)
    assert targets.up(load_stack_config("hpc-dev", ROOT), console, stack="hpc-dev") == saved
    assert "2 compute nodes running: ip-10-0-1-" in console.export_text()
