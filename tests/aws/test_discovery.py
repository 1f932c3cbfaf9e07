"""Compute nodes found in a real moto_server: the instances the head launched (tagged with the environment and
their Slurm node) in the stack's VPC, named by that tag, never the head; a contract of a stack whose Auto Scaling
group ran the nodes finds only that group's running instances in its own VPC (two environments of one name never
see each other's), in a stable order; a contract saved before it named its group finds the fleet by tag alone."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from spec.outputs import ENVIRONMENT_TAG, NODE_TAG, ComputeFleet
from targets.aws.discovery import compute_nodes, wait_for_nodes
from targets.aws.errors import AwsError
from tests.aws import moto_fixture
from tests.aws.mocks import FAKE_ED25519
from tests.aws.moto_server import fail_calls

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name

TAG = ("cloud-hpc-toolkit:fleet", "hpc-compute")


def fleet(expected: int, group: str | None = None, vpc_id: str | None = None) -> ComputeFleet:
    return ComputeFleet(provider="aws", region="us-east-1", tag_key=TAG[0], tag_value=TAG[1],
                        host_key=FAKE_ED25519, expected=expected, group=group, vpc_id=vpc_id)


@dataclass(frozen=True)
class ScalingGroup:
    """An Auto Scaling group moto launched, as an environment's stack makes it."""

    name: str
    vpc_id: str
    addresses: list[str]

    def fleet(self, expected: int | None = None) -> ComputeFleet:
        """What the stack's contract says of its fleet."""
        return fleet(len(self.addresses) if expected is None else expected, self.name, self.vpc_id)


def scaling_group(session, name: str, count: int, cidr: str = "10.0.0.0/16", vpc_id: str | None = None,
                  tag_value: str = TAG[1]) -> ScalingGroup:
    """A group of ``count`` instances carrying the fleet tag (propagated at launch, as the component asks), in a new
    VPC of ``cidr`` or in the existing ``vpc_id``; EC2 Auto Scaling tags each instance with the group's name."""
    ec2 = session.client("ec2")
    vpc_id = vpc_id or ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    taken = len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"])
    prefix = ".".join(cidr.split(".")[:2])
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{prefix}.{taken + 1}.0/24")["Subnet"]["SubnetId"]
    template = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-12345678", "InstanceType": "c5n.large"})["LaunchTemplate"]["LaunchTemplateId"]
    session.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=count, MaxSize=count, DesiredCapacity=count, VPCZoneIdentifier=subnet,
        Tags=[{"Key": TAG[0], "Value": tag_value, "PropagateAtLaunch": True}])
    launched = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Reservations"]
    return ScalingGroup(name, vpc_id, sorted(i["PrivateIpAddress"] for r in launched for i in r["Instances"]))


def addresses(nodes: list) -> list[str]:
    return sorted(node.address for node in nodes)


def launch(ec2, subnet: str, count: int, tags: dict[str, str]) -> list[dict]:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    return ec2.run_instances(ImageId="ami-12345678", InstanceType="c5n.large", MinCount=count, MaxCount=count,
                             SubnetId=subnet, TagSpecifications=spec)["Instances"]


@pytest.fixture
def subnet(aws_session) -> str:
    ec2 = aws_session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]


def test_two_environments_of_one_name_in_two_vpcs_each_see_only_their_own_nodes(aws_session):
    dev = scaling_group(aws_session, "hpc-compute-0a1b2c3", 2, cidr="10.0.0.0/16")
    prod = scaling_group(aws_session, "hpc-compute-4d5e6f7", 3, cidr="10.1.0.0/16")
    assert addresses(compute_nodes(aws_session, dev.fleet())) == dev.addresses and len(dev.addresses) == 2
    assert addresses(compute_nodes(aws_session, prod.fleet())) == prod.addresses and len(prod.addresses) == 3
    assert len(wait_for_nodes(aws_session, dev.fleet(), timeout=5, poll=0.1)) == 2  # `up`'s wait, the same search
    # by the environment's name alone, each would have taken the other's nodes for its own
    assert addresses(compute_nodes(aws_session, fleet(5))) == sorted(dev.addresses + prod.addresses)


def test_two_stacks_of_one_name_in_one_existing_vpc_are_told_apart_by_their_group(aws_session):
    mine = scaling_group(aws_session, "hpc-compute-0a1b2c3", 2)
    theirs = scaling_group(aws_session, "hpc-compute-4d5e6f7", 2, vpc_id=mine.vpc_id)
    assert addresses(compute_nodes(aws_session, mine.fleet())) == mine.addresses
    assert addresses(compute_nodes(aws_session, theirs.fleet())) == theirs.addresses
    assert set(mine.addresses).isdisjoint(theirs.addresses)


def test_the_group_is_looked_for_in_the_stacks_own_vpc_only(aws_session):
    """A contract whose group name turns up in another VPC (another account's stack, say) finds nothing there."""
    mine = scaling_group(aws_session, "hpc-compute-0a1b2c3", 2)
    elsewhere = aws_session.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    assert compute_nodes(aws_session, fleet(2, mine.name, elsewhere)) == []
    with pytest.raises(AwsError, match=rf"0 of 2 instances tagged {TAG[0]}={TAG[1]} of Auto Scaling group "
                                       rf"{mine.name} in {elsewhere} are running in us-east-1 after 0.2 s"):
        wait_for_nodes(aws_session, fleet(2, mine.name, elsewhere), timeout=0.2, poll=0.1)


def test_only_the_fleets_running_instances_sorted_by_short_name(aws_session, subnet):
    """A contract saved before the group was exported: the tag alone, running instances only."""
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


def head_launched(ec2, subnet: str, environment: str, nodes: list[str]) -> list[dict]:
    """Instances as the head's resume program launches them: the environment's tag and each its node's."""
    return [launch(ec2, subnet, 1, {ENVIRONMENT_TAG: environment, NODE_TAG: node, "Name": f"{environment}-{node}"})[0]
            for node in nodes]


def launched_fleet(expected: int, vpc_id: str) -> ComputeFleet:
    return ComputeFleet(provider="aws", region="us-east-1", tag_key=ENVIRONMENT_TAG, tag_value="hpc",
                        host_key=FAKE_ED25519, expected=expected, vpc_id=vpc_id)


def test_the_nodes_the_head_launched_are_named_by_their_tag_and_the_head_is_not_one(aws_session, subnet):
    ec2 = aws_session.client("ec2")
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    mine = head_launched(ec2, subnet, "hpc", ["efa-1", "efa-0", "cpu-7"])
    launch(ec2, subnet, 1, {ENVIRONMENT_TAG: "hpc", "Name": "hpc-head"})  # the head: the stack's default tags only
    head_launched(ec2, subnet, "other", ["efa-0"])  # another environment's node
    other_vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    elsewhere = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.5.1.0/24")["Subnet"]["SubnetId"]
    head_launched(ec2, elsewhere, "hpc", ["efa-0"])  # a same-named environment's, in another VPC
    nodes = compute_nodes(aws_session, launched_fleet(2, vpc))
    by_id = {i["PrivateIpAddress"]: i for i in mine}
    assert [n.name for n in nodes] == ["cpu-7", "efa-0", "efa-1"]
    assert {n.address for n in nodes} == set(by_id)
    assert len(wait_for_nodes(aws_session, launched_fleet(3, vpc), timeout=5, poll=0.1)) == 3
    with pytest.raises(AwsError, match=rf"3 of 4 instances tagged {ENVIRONMENT_TAG}=hpc and {NODE_TAG} in {vpc} "
                                       r"are running in us-east-1 after 0.2 s; look at the head's "
                                       r"/var/log/slurm/power.log"):
        wait_for_nodes(aws_session, launched_fleet(4, vpc), timeout=0.2, poll=0.1)
