"""The network a cluster lives in: a new VPC (public subnets for the head and the NAT gateway, private
subnets for compute nodes, an S3 gateway endpoint so nodes fetch the project bundle without NAT charges)
or an existing one, plus the two security groups every node uses.

The private subnets made here carry EMR's managed-policy tag: AmazonEMRServicePolicy_v2 launches instances only
into subnets with it, and a tag in the subnet's own ``tags`` is what ``refresh`` reads back (a separate
``aws.ec2.Tag`` on the subnet is a second owner of its tags, and each undoes the other). Subnets of an existing
VPC are not the toolkit's and are left untouched: their owner tags the private ones EMR uses (see
``components/aws/emr_cluster.py``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.security import Finding, refuse, ssh_marker
from spec import environment as spec
from spec.ssh_networks import SSH_MIN_PREFIX, check_ssh_cidr

# The VPC is cut into 16 equal slots: public subnets take slots 0..5, private ones 6..11 (the spec allows at
# most 6 zones), so changing the zone count adds or removes subnets without renumbering the others.
SLOT_BITS = 4
MAX_ZONES = 6
# AWS takes VPCs and subnets from /16 to /28.
MIN_PREFIX, MAX_PREFIX = 16, 28
# AmazonEMRServicePolicy_v2 acts only on resources carrying this tag: the cluster (EMR copies it to the
# instances, volumes and launch templates it creates), the subnet and the security groups.
EMR_MANAGED_TAG = {"for-use-with-amazon-emr-managed-policies": "true"}


@dataclass(frozen=True)
class NetworkArgs:
    network: spec.Network
    ssh_cidr: str
    allow_world_ssh: bool
    tags: dict[str, str]
    ssh_min_prefix: tuple[int, int] = SSH_MIN_PREFIX  # (IPv4, IPv6): ssh.min_prefix, ssh.min_prefix_v6


# the only ports nodes reach outside the VPC (the boot's package installs, Secrets Manager, the EFA installer)
WEB_EGRESS = ((443, "HTTPS out: AWS APIs (Secrets Manager, S3, EMR), package repositories, the EFA installer"),
              (80, "HTTP out: Debian, Ubuntu and Amazon Linux package repositories"))


def check_cidrs(vpc_cidr: str, ssh_cidr: str) -> list[Finding]:
    """SSH allowed from the VPC's own range would open the head to every node and container inside it.
    The whole internet is left to the ``ssh-world-open`` rule, which allows it with ``ssh.allow_world``."""
    ssh = ipaddress.ip_network(ssh_cidr, strict=False)
    if ssh.prefixlen == 0 or not ssh.overlaps(ipaddress.ip_network(vpc_cidr, strict=False)):
        return []
    return [Finding("ssh-cidr-overlaps-vpc", "error", "ssh.allowed_cidr",
                    f"{ssh_cidr} overlaps network.vpc_cidr {vpc_cidr}, so SSH would be open to the cluster's own "
                    "addresses; give the network you connect from, outside the VPC")]


def carve_subnets(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Public CIDRs then private ones, one each per zone, always the same for the same inputs."""
    vpc = ipaddress.ip_network(vpc_cidr, strict=False)
    new_prefix = vpc.prefixlen + SLOT_BITS
    if vpc.version != 4 or vpc.prefixlen < MIN_PREFIX or new_prefix > MAX_PREFIX or zones > MAX_ZONES:
        raise ValueError(f"network.vpc_cidr = {vpc_cidr}: cannot hold {zones} public + {zones} private subnets "
                         f"of 1/{2 ** SLOT_BITS} of the VPC each (AWS takes /{MIN_PREFIX} to /{MAX_PREFIX}): give an "
                         f"IPv4 network from /{MIN_PREFIX} to /{MAX_PREFIX - SLOT_BITS} and at most {MAX_ZONES} zones")
    slots = [str(s) for s in vpc.subnets(new_prefix=new_prefix)]
    return slots[:zones], slots[MAX_ZONES:MAX_ZONES + zones]



class Network(pulumi.ComponentResource):
    """VPC, subnets, routes and the head/cluster security groups (only the groups for an existing VPC)."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    # The same ids as a list of known length, to declare one resource per subnet (EFS mount targets) up front:
    # resources declared inside an apply are invisible to preview.
    private_subnet_id_list: list[pulumi.Output[str]]
    availability_zones: pulumi.Output[list[str]]
    # The zone of each public subnet, in order, known before anything is built: the head's EBS volumes are made
    # in its subnet's zone before the head itself, so that its boot can be told their ids.
    public_subnet_zones: list[str]
    head_security_group_id: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        refuse(check_ssh_cidr(args.ssh_cidr, args.allow_world_ssh, min_prefix=args.ssh_min_prefix))
        network = args.network
        if network.vpc_id is None:
            refuse(check_cidrs(network.vpc_cidr, args.ssh_cidr))
            public_cidrs, private_cidrs = carve_subnets(network.vpc_cidr, network.availability_zones)
        super().__init__("cloud-hpc-toolkit:aws:Network", name, None, opts)
        self._name, self._tags = name, args.tags
        if network.vpc_id is None:
            vpc_id, public, private, public_zones, zones = self._new_vpc(network, public_cidrs, private_cidrs)
        else:
            vpc_id, public, private, public_zones, zones = self._existing_vpc(network)
        self.public_subnet_zones = public_zones
        self.vpc_id = vpc_id
        self.public_subnet_ids = pulumi.Output.all(*public)
        self.private_subnet_ids = pulumi.Output.all(*private)
        self.private_subnet_id_list = private
        self.availability_zones = pulumi.Output.from_input(zones)
        self.head_security_group_id, self.cluster_security_group_id = self._security_groups(vpc_id, args.ssh_cidr)
        self.register_outputs({
            "vpc_id": self.vpc_id,
            "public_subnet_ids": self.public_subnet_ids,
            "private_subnet_ids": self.private_subnet_ids,
            "availability_zones": self.availability_zones,
            "head_security_group_id": self.head_security_group_id,
            "cluster_security_group_id": self.cluster_security_group_id,
        })

    def _child(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on)

    def _named(self, suffix: str) -> dict[str, str]:
        return {**self._tags, "Name": f"{self._name}-{suffix}"}

    def _new_vpc(self, network: spec.Network, public_cidrs: list[str], private_cidrs: list[str],
                 ) -> tuple[pulumi.Output[str], list[pulumi.Output[str]], list[pulumi.Output[str]], list[str],
                            list[str]]:
        """The VPC's id, the public and private subnets' ids, and their zones (one public and one private subnet
        per zone, in the same order)."""
        name, count = self._name, network.availability_zones
        invoke = pulumi.InvokeOptions(parent=self)
        available = aws.get_availability_zones(state="available", opts=invoke).names
        if len(available) < count:
            raise ValueError(f"network.availability_zones = {count}: the region has only {len(available)} "
                             f"available zones ({', '.join(available)})")
        zones = available[:count]
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=network.vpc_cidr, enable_dns_support=True,
                          enable_dns_hostnames=True, tags=self._named("vpc"), opts=self._child())
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=self._named("igw"), opts=self._child())
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags=self._named("public"),
                                       opts=self._child())
        aws.ec2.Route(f"{name}-public-internet", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
                      gateway_id=igw.id, opts=self._child())
        private_rt = aws.ec2.RouteTable(f"{name}-private", vpc_id=vpc.id, tags=self._named("private"),
                                        opts=self._child())
        subnets: dict[str, list[aws.ec2.Subnet]] = {"public": [], "private": []}
        for kind, cidrs, table in (("public", public_cidrs, public_rt), ("private", private_cidrs, private_rt)):
            for index, (zone, cidr) in enumerate(zip(zones, cidrs, strict=True)):
                emr = EMR_MANAGED_TAG if kind == "private" else {}  # EMR runs in a private subnet
                subnet = aws.ec2.Subnet(f"{name}-{kind}-{index}", vpc_id=vpc.id, cidr_block=cidr,
                                        availability_zone=zone, map_public_ip_on_launch=kind == "public",
                                        tags={**self._named(f"{kind}-{zone}"), **emr}, opts=self._child())
                aws.ec2.RouteTableAssociation(f"{name}-{kind}-{index}-route", subnet_id=subnet.id,
                                              route_table_id=table.id, opts=self._child())
                subnets[kind].append(subnet)
        if network.nat:
            eip = aws.ec2.Eip(f"{name}-nat-ip", domain="vpc", tags=self._named("nat-ip"), opts=self._child([igw]))
            nat = aws.ec2.NatGateway(f"{name}-nat", allocation_id=eip.id, subnet_id=subnets["public"][0].id,
                                     tags=self._named("nat"), opts=self._child([igw]))
            aws.ec2.Route(f"{name}-private-nat", route_table_id=private_rt.id, destination_cidr_block="0.0.0.0/0",
                          nat_gateway_id=nat.id, opts=self._child())
        region = aws.get_region(opts=invoke).region
        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{region}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=[public_rt.id, private_rt.id],
                            tags=self._named("s3"), opts=self._child())
        return (vpc.id, [s.id for s in subnets["public"]], [s.id for s in subnets["private"]], zones, zones)

    def _existing_vpc(self, network: spec.Network,
                      ) -> tuple[pulumi.Output[str], list[pulumi.Output[str]], list[pulumi.Output[str]], list[str],
                                 list[str]]:
        """Declare nothing in the VPC but the security groups; check the subnets before anything is built. Returns
        as ``_new_vpc`` does, the zones looked up."""
        invoke = pulumi.InvokeOptions(parent=self)
        zone_of: dict[str, str] = {}
        for field in ("public_subnet_ids", "private_subnet_ids"):
            for subnet_id in getattr(network, field):
                subnet = aws.ec2.get_subnet(id=subnet_id, opts=invoke)
                if subnet.vpc_id != network.vpc_id:
                    raise ValueError(f"network.{field}: {subnet_id} is in {subnet.vpc_id}, "
                                     f"not in network.vpc_id {network.vpc_id}")
                zone_of[subnet_id] = subnet.availability_zone
        zones: list[str] = []
        for subnet_id in network.private_subnet_ids:
            if zone_of[subnet_id] in zones:
                raise ValueError(f"network.private_subnet_ids: {subnet_id} is in {zone_of[subnet_id]} like another "
                                 "private subnet; give one private subnet per zone (EFS takes one mount target "
                                 "per zone)")
            zones.append(zone_of[subnet_id])
        return (pulumi.Output.from_input(network.vpc_id),
                [pulumi.Output.from_input(s) for s in network.public_subnet_ids],
                [pulumi.Output.from_input(s) for s in network.private_subnet_ids],
                [zone_of[subnet_id] for subnet_id in network.public_subnet_ids], zones)

    def _security_groups(self, vpc_id: pulumi.Output[str], ssh_cidr: str,
                         ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The head takes SSH from ``ssh_cidr`` only; cluster nodes take everything from each other only
        (MPI, Slurm, NFS clients; EFA needs the group to allow all traffic to and from itself)."""
        name = self._name
        head = aws.ec2.SecurityGroup(f"{name}-head", vpc_id=vpc_id, description="SSH to the head node",
                                     tags=self._named("head"), opts=self._child())
        ssh = ipaddress.ip_network(ssh_cidr, strict=False)
        source = {"cidr_ipv6" if ssh.version == 6 else "cidr_ipv4": ssh_cidr}
        # A world-open or broad rule exists only because the spec said so (refused otherwise); the marker tells
        # the resource-level rules (policy pack, plan), which cannot see the spec.
        description = "SSH from ssh.allowed_cidr" + ssh_marker(ssh_cidr)
        aws.vpc.SecurityGroupIngressRule(f"{name}-head-ssh", security_group_id=head.id, ip_protocol="tcp",
                                         from_port=22, to_port=22, description=description,
                                         tags=self._named("head-ssh"), opts=self._child(), **source)
        cluster = aws.ec2.SecurityGroup(f"{name}-cluster", vpc_id=vpc_id, description="Traffic between cluster nodes",
                                        tags=self._named("cluster"), opts=self._child())
        aws.vpc.SecurityGroupIngressRule(f"{name}-cluster-from-self", security_group_id=cluster.id, ip_protocol="-1",
                                         referenced_security_group_id=cluster.id, description="All from cluster nodes",
                                         tags=self._named("cluster-from-self"), opts=self._child())
        aws.vpc.SecurityGroupEgressRule(f"{name}-cluster-to-self", security_group_id=cluster.id, ip_protocol="-1",
                                        referenced_security_group_id=cluster.id, description="All to cluster nodes",
                                        tags=self._named("cluster-to-self"), opts=self._child())
        # Out of the VPC only what the boot and the nodes' work use: HTTPS and HTTP. DNS, the time service and the
        # instance metadata are not filtered by security groups; NFS to EFS is opened by the storage component.
        for group, suffix in ((head, "head"), (cluster, "cluster")):
            for port, why in WEB_EGRESS:
                aws.vpc.SecurityGroupEgressRule(f"{name}-{suffix}-egress-{port}", security_group_id=group.id,
                                                ip_protocol="tcp", from_port=port, to_port=port,
                                                cidr_ipv4="0.0.0.0/0", description=why,
                                                tags=self._named(f"{suffix}-egress-{port}"), opts=self._child())
        return head.id, cluster.id
