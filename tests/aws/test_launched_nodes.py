"""Destroy's first step on AWS against a real moto_server: the instances this environment's head launched are
terminated (and waited for) before Pulumi deletes the network they sit in; the head, another environment's nodes
and a same-named environment's in another VPC are left alone."""

from __future__ import annotations

import pytest

from components.boot import ec2_power
from spec.outputs import ENVIRONMENT_TAG, NODE_TAG
from targets.aws.errors import AwsError
from targets.aws.launched_nodes import launched_nodes, terminate_launched
from tests.aws import moto_fixture
from tests.aws.moto_server import fail_calls
from tests.aws.test_discovery import head_launched, launch

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name


def states(ec2, instances: list[dict]) -> list[str]:
    ids = [i["InstanceId"] for i in instances]
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    state = {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}
    return [state[ident] for ident in ids]


def subnet_in_new_vpc(ec2, cidr: str) -> tuple[str, str]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    return vpc, ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24"))["Subnet"]["SubnetId"]


def test_only_this_environments_launched_nodes_in_its_vpc_are_terminated(aws_session) -> None:
    ec2 = aws_session.client("ec2")
    vpc, subnet = subnet_in_new_vpc(ec2, "10.0.0.0/16")
    _, elsewhere = subnet_in_new_vpc(ec2, "10.7.0.0/16")
    mine = head_launched(ec2, subnet, "hpc", ["efa-0", "efa-1", "cpu-3"])
    ec2.stop_instances(InstanceIds=[mine[2]["InstanceId"]])  # a stopped one still holds its interface
    head = launch(ec2, subnet, 1, {ENVIRONMENT_TAG: "hpc", "Name": "hpc-head"})  # Pulumi's to delete
    theirs = head_launched(ec2, subnet, "other", ["efa-0"])
    same_name_elsewhere = head_launched(ec2, elsewhere, "hpc", ["efa-0"])

    gone = terminate_launched(aws_session, "hpc", vpc)

    assert gone == sorted(i["InstanceId"] for i in mine)
    assert states(ec2, mine) == ["terminated"] * 3
    assert states(ec2, head + theirs + same_name_elsewhere) == ["running"] * 3
    assert launched_nodes(aws_session, "hpc", vpc) == [] and terminate_launched(aws_session, "hpc", vpc) == []


def test_without_a_vpc_every_launched_node_of_the_environment_goes(aws_session) -> None:
    """A contract that never named its VPC (a deployment that died half way): the environment's tag decides."""
    ec2 = aws_session.client("ec2")
    _, subnet = subnet_in_new_vpc(ec2, "10.0.0.0/16")
    _, elsewhere = subnet_in_new_vpc(ec2, "10.7.0.0/16")
    nodes = head_launched(ec2, subnet, "hpc", ["cpu-0"]) + head_launched(ec2, elsewhere, "hpc", ["cpu-1"])
    assert terminate_launched(aws_session, "hpc", None) == sorted(i["InstanceId"] for i in nodes)
    assert states(ec2, nodes) == ["terminated"] * 2


def test_a_refused_termination_names_the_step_and_what_to_do(aws_session) -> None:
    ec2 = aws_session.client("ec2")
    vpc, subnet = subnet_in_new_vpc(ec2, "10.0.0.0/16")
    head_launched(ec2, subnet, "hpc", ["cpu-0"])
    fail_calls(aws_session, "ec2", "TerminateInstances", "UnauthorizedOperation")
    with pytest.raises(AwsError, match=r"terminating 1 compute instance\(s\) hpc's head launched: .*"
                                       r"UnauthorizedOperation.*ec2:TerminateInstances"):
        terminate_launched(aws_session, "hpc", vpc)


def test_destroy_looks_for_the_tag_the_resume_program_writes() -> None:
    assert (NODE_TAG, ENVIRONMENT_TAG) == (ec2_power.NODE_TAG, ec2_power.ENVIRONMENT_TAG)
