"""Compute nodes found by tag in a real moto_server: only the fleet's running instances, in a stable order."""

from __future__ import annotations

import time

import pytest

from spec.outputs import ComputeFleet
from targets.aws.discovery import compute_nodes, wait_for_nodes
from targets.aws.errors import AwsError
from tests.aws import moto_fixture
from tests.aws.mocks import FAKE_ED25519
from tests.aws.moto_server import fail_calls

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name

TAG = ("cloud-hpc-toolkit:fleet", "hpc-compute")


def fleet(expected: int) -> ComputeFleet:
    return ComputeFleet(provider="aws", region="us-east-1", tag_key=TAG[0], tag_value=TAG[1],
                        host_key=FAKE_ED25519, expected=expected)


def launch(ec2, subnet: str, count: int, tags: dict[str, str]) -> list[dict]:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    return ec2.run_instances(ImageId="ami-12345678", InstanceType="c5n.large", MinCount=count, MaxCount=count,
                             SubnetId=subnet, TagSpecifications=spec)["Instances"]


@pytest.fixture
def subnet(aws_session) -> str:
    ec2 = aws_session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]


def test_only_the_fleets_running_instances_sorted_by_short_name(aws_session, subnet):
    ec2 = aws_session.client("ec2")
    fleet_instances = launch(ec2, subnet, 4, {TAG[0]: TAG[1], "Name": "compute"})
    launch(ec2, subnet, 1, {})                                   # untagged
    launch(ec2, subnet, 1, {TAG[0]: "other-stack"})              # same key, another stack
    stopped = fleet_instances[1]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])

    nodes = compute_nodes(aws_session, fleet(3))

    running = [i for i in fleet_instances if i["InstanceId"] != stopped]
    expected = sorted((i["PrivateDnsName"].split(".")[0], i["PrivateIpAddress"]) for i in running)
    assert [(n.name, n.address) for n in nodes] == expected
    assert len(nodes) == 3 and all(n.name.startswith("ip-10-0-1-") for n in nodes)
    assert {n.host_key for n in nodes} == {FAKE_ED25519}


def test_sorting_is_by_name_not_launch_order(aws_session, subnet):
    ec2 = aws_session.client("ec2")
    launch(ec2, subnet, 12, {TAG[0]: TAG[1]})   # ip-10-0-1-4 .. ip-10-0-1-15: launch order differs from name order
    names = [n.name for n in compute_nodes(aws_session, fleet(12))]
    assert names == sorted(names) and len(set(names)) == 12


def test_wait_for_nodes_returns_once_the_fleet_is_complete(aws_session, subnet):
    launch(aws_session.client("ec2"), subnet, 2, {TAG[0]: TAG[1]})
    assert len(wait_for_nodes(aws_session, fleet(2), timeout=5, poll=0.1)) == 2


def test_wait_for_nodes_times_out_naming_how_many_were_found(aws_session, subnet):
    launch(aws_session.client("ec2"), subnet, 1, {TAG[0]: TAG[1]})
    started = time.monotonic()
    with pytest.raises(AwsError) as error:
        wait_for_nodes(aws_session, fleet(3), timeout=0.6, poll=0.2)
    assert 0.6 <= time.monotonic() - started < 5
    message = str(error.value)
    assert "1 of 3 instances" in message and f"{TAG[0]}={TAG[1]}" in message and "after 0.6 s" in message


def test_a_refused_call_names_the_step(aws_session):
    fail_calls(aws_session, "ec2", "DescribeInstances", "UnauthorizedOperation")
    with pytest.raises(AwsError, match=r"listing the compute nodes tagged cloud-hpc-toolkit:fleet=hpc-compute in "
                                       r"us-east-1: .*UnauthorizedOperation.*ec2:DescribeInstances"):
        compute_nodes(aws_session, fleet(1))
