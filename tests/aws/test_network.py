"""The AWS network component, against recording mocks: what it declares, and what it refuses to declare."""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pytest

from components.aws.network import Network, NetworkArgs, carve_subnets, check_cidrs
from components.security import WORLD_MARKER, SecurityViolation, check_resource
from spec import environment as spec
from spec.ssh_networks import check_ssh_cidr
from tests.aws.mocks import EXISTING_VPC, ZONES, RecordingMocks, assert_all_children_of

SSH = "198.51.100.0/24"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
ROUTE = "aws:ec2/route:Route"
NAT = "aws:ec2/natGateway:NatGateway"
OUTPUTS = ("vpc_id", "public_subnet_ids", "private_subnet_ids", "availability_zones", "head_security_group_id",
           "cluster_security_group_id")


def args(ssh_cidr: str = SSH, allow_world: bool = False, **network: Any) -> NetworkArgs:
    return NetworkArgs(network=spec.Network(**network), ssh_cidr=ssh_cidr, allow_world_ssh=allow_world,
                       tags={"project": "chpc"})


def build(network_args: NetworkArgs) -> dict[str, Any]:
    """Declare the component; return its outputs resolved, and fail unless every child is parented to it."""
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        net = Network("hpc", network_args)
        values["public_subnet_zones"] = net.public_subnet_zones  # known before anything is built: plain strings
        return pulumi.Output.all(**{key: getattr(net, key) for key in OUTPUTS}).apply(values.update)

    program()
    assert_all_children_of("cloud-hpc-toolkit:aws:Network", "hpc")
    return values


def only_the_component(mocks: RecordingMocks) -> bool:
    """Checks that need a data source run once the component exists (its provider answers them)."""
    return [r.type for r in mocks.resources] == ["cloud-hpc-toolkit:aws:Network"]


def by_name(mocks: RecordingMocks, type_token: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in mocks.of_type(type_token)}


def test_new_vpc_has_dns_and_the_spec_cidr(mocks):
    outputs = build(args(vpc_cidr="10.20.0.0/16"))
    vpc = mocks.one(VPC)
    assert vpc.inputs["cidrBlock"] == "10.20.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
    assert vpc.inputs["tags"] == {"project": "chpc", "Name": "hpc-vpc"}
    assert outputs["vpc_id"] == "hpc-vpc-id"


def test_one_public_and_one_private_subnet_per_zone_inside_the_vpc(mocks):
    outputs = build(args(vpc_cidr="10.20.0.0/16"))
    subnets = by_name(mocks, SUBNET)
    assert sorted(subnets) == ["hpc-private-0", "hpc-private-1", "hpc-public-0", "hpc-public-1"]
    vpc = ipaddress.ip_network("10.20.0.0/16")
    cidrs = [ipaddress.ip_network(s["cidrBlock"]) for s in subnets.values()]
    assert all(c.subnet_of(vpc) for c in cidrs)
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1:])
    for kind in ("public", "private"):
        zones = [subnets[f"hpc-{kind}-{i}"]["availabilityZone"] for i in range(2)]
        assert zones == ZONES[:2]
        assert all(subnets[f"hpc-{kind}-{i}"]["vpcId"] == "hpc-vpc-id" for i in range(2))
        assert all(subnets[f"hpc-{kind}-{i}"]["mapPublicIpOnLaunch"] is (kind == "public") for i in range(2))
    assert outputs["public_subnet_ids"] == ["hpc-public-0-id", "hpc-public-1-id"]
    assert outputs["private_subnet_ids"] == ["hpc-private-0-id", "hpc-private-1-id"]
    assert outputs["availability_zones"] == outputs["public_subnet_zones"] == ZONES[:2]
    assert ("aws:index/getAvailabilityZones:getAvailabilityZones", {"state": "available"}) in mocks.calls


def test_private_subnets_carry_the_emr_managed_policy_tag_in_their_own_tags(mocks):
    build(args(availability_zones=2))
    subnets = by_name(mocks, SUBNET)
    for index, zone in enumerate(ZONES[:2]):
        assert subnets[f"hpc-private-{index}"]["tags"] == {
            "project": "chpc", "Name": f"hpc-private-{zone}", "for-use-with-amazon-emr-managed-policies": "true"}
        assert subnets[f"hpc-public-{index}"]["tags"] == {"project": "chpc", "Name": f"hpc-public-{zone}"}
    assert mocks.of_type("aws:ec2/tag:Tag") == []  # no second owner of the subnets' tags


def test_public_subnets_route_to_the_internet_gateway_private_ones_to_their_own_table(mocks):
    build(args())
    associations = {a["subnetId"]: a["routeTableId"]
                    for a in by_name(mocks, "aws:ec2/routeTableAssociation:RouteTableAssociation").values()}
    assert associations == {"hpc-public-0-id": "hpc-public-id", "hpc-public-1-id": "hpc-public-id",
                            "hpc-private-0-id": "hpc-private-id", "hpc-private-1-id": "hpc-private-id"}
    assert mocks.one("aws:ec2/internetGateway:InternetGateway").inputs["vpcId"] == "hpc-vpc-id"
    internet = by_name(mocks, ROUTE)["hpc-public-internet"]
    assert internet == {"routeTableId": "hpc-public-id", "destinationCidrBlock": "0.0.0.0/0",
                        "gatewayId": "hpc-igw-id"}


def test_nat_gateway_in_the_first_public_subnet_routes_the_private_table(mocks):
    build(args(nat=True))
    eip = mocks.one("aws:ec2/eip:Eip")
    assert eip.inputs["domain"] == "vpc"
    nat = mocks.one(NAT)
    assert nat.inputs["subnetId"] == "hpc-public-0-id" and nat.inputs["allocationId"] == "hpc-nat-ip-id"
    private = by_name(mocks, ROUTE)["hpc-private-nat"]
    assert private == {"routeTableId": "hpc-private-id", "destinationCidrBlock": "0.0.0.0/0",
                       "natGatewayId": "hpc-nat-id"}


def test_no_nat_means_no_gateway_no_address_and_no_default_route_for_private_subnets(mocks):
    build(args(nat=False))
    assert mocks.of_type(NAT) == [] and mocks.of_type("aws:ec2/eip:Eip") == []
    routes = by_name(mocks, ROUTE)
    assert list(routes) == ["hpc-public-internet"]
    assert mocks.of_type(VPC) and mocks.of_type(SUBNET)


def test_s3_gateway_endpoint_on_both_route_tables(mocks):
    build(args())
    endpoint = mocks.one("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint.inputs["vpcId"] == "hpc-vpc-id"
    assert sorted(endpoint.inputs["routeTableIds"]) == ["hpc-private-id", "hpc-public-id"]


def test_every_ingress_rule_ssh_only_from_the_cidr_cluster_only_from_itself(mocks):
    outputs = build(args())
    groups = by_name(mocks, GROUP)
    assert sorted(groups) == ["hpc-cluster", "hpc-head"]
    assert all(g["vpcId"] == "hpc-vpc-id" and "ingress" not in g and "egress" not in g for g in groups.values())
    assert outputs["head_security_group_id"] == "hpc-head-id"
    assert outputs["cluster_security_group_id"] == "hpc-cluster-id"
    ingress = sorted(by_name(mocks, INGRESS).values(), key=lambda r: r["securityGroupId"])
    assert [{k: v for k, v in r.items() if k not in ("description", "tags")} for r in ingress] == [
        {"securityGroupId": "hpc-cluster-id", "ipProtocol": "-1", "referencedSecurityGroupId": "hpc-cluster-id"},
        {"securityGroupId": "hpc-head-id", "ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": SSH},
    ]
    egress = {(r["securityGroupId"], r.get("cidrIpv4") or r.get("referencedSecurityGroupId"), r["ipProtocol"],
               r.get("fromPort"), r.get("toPort")) for r in by_name(mocks, EGRESS).values()}
    # to the world only HTTPS and HTTP (the boot's packages, Secrets Manager, the EFA installer); all among the nodes
    assert egress == {("hpc-head-id", "0.0.0.0/0", "tcp", 443.0, 443.0),
                      ("hpc-head-id", "0.0.0.0/0", "tcp", 80.0, 80.0),
                      ("hpc-cluster-id", "0.0.0.0/0", "tcp", 443.0, 443.0),
                      ("hpc-cluster-id", "0.0.0.0/0", "tcp", 80.0, 80.0),
                      ("hpc-cluster-id", "hpc-cluster-id", "-1", None, None)}


def test_existing_vpc_declares_only_the_security_groups(subnet_mocks):
    outputs = build(args(vpc_id=EXISTING_VPC, public_subnet_ids=["subnet-0000000c"],
                         private_subnet_ids=["subnet-0000000b", "subnet-0000000d"]))
    declared = {r.type for r in subnet_mocks.resources}
    assert declared == {"cloud-hpc-toolkit:aws:Network", GROUP, INGRESS, EGRESS}  # not even a tag on a subnet
    assert {g["vpcId"] for g in by_name(subnet_mocks, GROUP).values()} == {EXISTING_VPC}
    assert outputs == {
        "vpc_id": EXISTING_VPC, "public_subnet_ids": ["subnet-0000000c"],
        "private_subnet_ids": ["subnet-0000000b", "subnet-0000000d"],
        "availability_zones": ["us-east-1a", "us-east-1c"], "public_subnet_zones": ["us-east-1c"],
        "head_security_group_id": "hpc-head-id", "cluster_security_group_id": "hpc-cluster-id",
    }
    asked = [a["id"] for token, a in subnet_mocks.calls if token == "aws:ec2/getSubnet:getSubnet"]
    assert asked == ["subnet-0000000c", "subnet-0000000b", "subnet-0000000d"]


@pytest.mark.parametrize(("private", "message"), [
    (["subnet-0000000b", "subnet-0000000e"], "subnet-0000000e is in vpc-99999999, not in network.vpc_id"),
    (["subnet-0000000a", "subnet-0000000b"], "subnet-0000000b is in us-east-1a like another private subnet"),
])
def test_existing_subnets_outside_the_vpc_or_sharing_a_zone_refused(subnet_mocks, private, message):
    with pytest.raises(ValueError, match=message):
        build(args(vpc_id=EXISTING_VPC, public_subnet_ids=["subnet-0000000c"], private_subnet_ids=private))
    assert only_the_component(subnet_mocks)


@pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"])
def test_world_open_ssh_refused_before_anything_is_declared(mocks, world):
    with pytest.raises(SecurityViolation, match=r"\[ssh-world-open\] ssh.allowed_cidr"):
        build(args(ssh_cidr=world))
    assert mocks.resources == []


@pytest.mark.parametrize(("world", "field"), [("0.0.0.0/0", "cidrIpv4"), ("::/0", "cidrIpv6")])
def test_world_open_ssh_with_the_flag_declared_and_reported_as_a_warning(mocks, world, field):
    build(args(ssh_cidr=world, allow_world=True))
    ssh = by_name(mocks, INGRESS)["hpc-head-ssh"]
    assert ssh[field] == world and ssh["fromPort"] == 22.0 and ssh["toPort"] == 22.0
    assert WORLD_MARKER in ssh["description"]
    assert [f.severity for f in check_ssh_cidr(world, True)] == ["warning"]
    assert check_cidrs("10.0.0.0/16", world) == []
    # the resource-level rules (policy pack, plan) see the marker: a warning there too, not an error
    findings = [f for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)]
    assert [(f.rule, f.severity, f.resource) for f in findings] == [("ssh-world-open", "warning", "hpc-head-ssh")]


@pytest.mark.parametrize("fixture", ["mocks", "subnet_mocks"])
def test_every_declared_resource_passes_the_resource_rules(request, fixture):
    recorder = request.getfixturevalue(fixture)
    existing = {"vpc_id": EXISTING_VPC, "public_subnet_ids": ["subnet-0000000a"],
                "private_subnet_ids": ["subnet-0000000b", "subnet-0000000d"]} if fixture == "subnet_mocks" else {}
    build(args(**existing))
    assert WORLD_MARKER not in by_name(recorder, INGRESS)["hpc-head-ssh"]["description"]
    assert [f for r in recorder.resources for f in check_resource(r.type, r.inputs, r.name)] == []


@pytest.mark.parametrize("ssh_cidr", ["10.0.5.0/24", "10.0.0.0/8", "10.0.255.255/32"])
def test_ssh_cidr_overlapping_the_vpc_refused(mocks, ssh_cidr):
    with pytest.raises(ValueError, match=r"\[ssh-cidr-overlaps-vpc\] .*overlaps network.vpc_cidr 10.0.0.0/16"):
        build(args(ssh_cidr=ssh_cidr, vpc_cidr="10.0.0.0/16"))
    assert mocks.resources == []


@pytest.mark.parametrize("vpc_cidr", ["10.0.0.0/25", "10.0.0.0/28", "10.0.0.0/12"])
def test_vpc_that_cannot_hold_the_subnets_refused(mocks, vpc_cidr):
    with pytest.raises(ValueError, match=f"network.vpc_cidr = {vpc_cidr}: cannot hold 2 public"):
        build(args(vpc_cidr=vpc_cidr))
    assert mocks.resources == []


def test_more_zones_than_the_region_has_refused(mocks):
    with pytest.raises(ValueError, match="network.availability_zones = 4: the region has only 3 available zones"):
        build(args(availability_zones=4))
    assert only_the_component(mocks)


def test_carving_is_deterministic_and_adding_a_zone_renumbers_nothing():
    two = carve_subnets("10.0.0.0/16", 2)
    assert two == (["10.0.0.0/20", "10.0.16.0/20"], ["10.0.96.0/20", "10.0.112.0/20"])
    six = carve_subnets("10.0.0.0/16", 6)
    assert six[0][:2] == two[0] and six[1][:2] == two[1]
    smallest = carve_subnets("192.168.1.0/24", 6)
    every = [ipaddress.ip_network(c) for c in smallest[0] + smallest[1]]
    assert len(set(every)) == 12 and all(c.prefixlen == 28 for c in every)
