"""The network an Azure cluster lives in: its resource group, a virtual network with one cluster subnet
(head and compute nodes, so MPI and Slurm traffic never crosses a router), a network security group on
that subnet, and a NAT gateway for the nodes' outbound traffic (packages at boot).

Inbound, the subnet takes SSH from ``ssh_cidr`` and anything from itself, and nothing else: an explicit
deny above Azure's default rules also shuts out the rest of the virtual network. The subnet carries the
``Microsoft.Storage`` service endpoint, which the Azure Files share's network rule admits.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.network as network
import pulumi_azure_native.resources as resources

from components.security import refuse, ssh_marker
from spec import environment as spec
from spec.ssh_networks import SSH_MIN_PREFIX, check_ssh_cidr

# The cluster subnet is the first sixteenth of the virtual network, like the first slot on AWS: the rest
# stays free for later subnets without renumbering this one (slot 1: the container groups' delegated subnet,
# components/azure/containers.py).
SLOT_BITS = 4
# Azure keeps 5 addresses of every subnet (network, gateway, 2 DNS, broadcast); the head takes one.
RESERVED = 5 + 1
SSH_PRIORITY, CLUSTER_PRIORITY, HDINSIGHT_PRIORITY, GATEWAY_PRIORITY, DENY_PRIORITY = 100, 110, 120, 130, 4096


@dataclass(frozen=True)
class AzureNetworkArgs:
    network: spec.Network
    ssh_cidr: str
    allow_world_ssh: bool
    location: str
    tags: dict[str, str]
    nodes: int = 0  # compute nodes the cluster subnet must hold besides the head
    ssh_min_prefix: tuple[int, int] = SSH_MIN_PREFIX  # (IPv4, IPv6): ssh.min_prefix, ssh.min_prefix_v6
    spark_gateway: bool = False  # an HDInsight cluster sits in the subnet: its gateway takes HTTPS (Livy)


def cluster_subnet(vnet_cidr: str, nodes: int = 0) -> str:
    """The cluster subnet's prefix; refused when it could not hold ``nodes`` compute nodes and the head."""
    vnet = ipaddress.ip_network(vnet_cidr, strict=False)
    new_prefix = vnet.prefixlen + SLOT_BITS
    if vnet.version != 4 or new_prefix > 29:
        raise ValueError(f"network.vpc_cidr = {vnet_cidr}: give an IPv4 network of /25 or larger (the cluster "
                         f"subnet is 1/{2 ** SLOT_BITS} of it, and Azure subnets are /29 at the smallest)")
    subnet = next(vnet.subnets(new_prefix=new_prefix))
    if subnet.num_addresses < nodes + RESERVED:
        raise ValueError(f"network.vpc_cidr = {vnet_cidr}: its cluster subnet {subnet} holds "
                         f"{subnet.num_addresses - RESERVED} nodes, not {nodes}; give a larger network")
    return str(subnet)


def security_rules(ssh_cidr: str, subnet: str, spark_gateway: bool = False) -> list[network.SecurityRuleArgs]:
    """SSH from ``ssh_cidr``, everything within the subnet, and an explicit deny of all other inbound
    traffic (Azure's default AllowVnetInBound would otherwise admit the whole virtual network and peers).
    Outbound keeps Azure's defaults: the nodes fetch packages through the NAT gateway.

    With ``spark_gateway``, HTTPS to the HDInsight gateway from HDInsight's management service (health and
    deployment) and from ``ssh_cidr`` (Livy, Ambari). The rules are all declared here, inline: a separate rule
    resource on this group would be dropped by the next `up` that rewrites the group's inline list."""
    marker = ssh_marker(ssh_cidr)
    gateway = [
        network.SecurityRuleArgs(
            name="hdinsight-management", priority=HDINSIGHT_PRIORITY, direction="Inbound", access="Allow",
            protocol="Tcp", source_address_prefix="HDInsight", source_port_range="*",
            destination_address_prefix=subnet, destination_port_range="443",
            description="HDInsight health and management service (HTTPS)"),
        network.SecurityRuleArgs(
            name="hdinsight-gateway-clients", priority=GATEWAY_PRIORITY, direction="Inbound", access="Allow",
            protocol="Tcp", source_address_prefix=ssh_cidr, source_port_range="*",
            destination_address_prefix=subnet, destination_port_range="443",
            description="Livy and Ambari on the cluster gateway from ssh.allowed_cidr (HTTPS)" + marker),
    ] if spark_gateway else []
    return [
        network.SecurityRuleArgs(
            name="ssh-from-allowed-cidr", priority=SSH_PRIORITY, direction="Inbound", access="Allow",
            protocol="Tcp", source_address_prefix=ssh_cidr, source_port_range="*",
            destination_address_prefix=subnet, destination_port_range="22",
            description="SSH from ssh.allowed_cidr" + marker),
        network.SecurityRuleArgs(
            name="cluster-internal", priority=CLUSTER_PRIORITY, direction="Inbound", access="Allow",
            protocol="*", source_address_prefix=subnet, source_port_range="*",
            destination_address_prefix=subnet, destination_port_range="*",
            description="All traffic between cluster nodes (Slurm, MPI, NFS clients)"),
        *gateway,
        network.SecurityRuleArgs(
            name="deny-all-other-inbound", priority=DENY_PRIORITY, direction="Inbound", access="Deny",
            protocol="*", source_address_prefix="*", source_port_range="*",
            destination_address_prefix="*", destination_port_range="*",
            description="Nothing else reaches the cluster, not even the rest of the virtual network"),
    ]


class AzureNetwork(pulumi.ComponentResource):
    """Resource group, virtual network, the cluster subnet with its security group and NAT gateway."""

    resource_group_name: pulumi.Output[str]
    vnet_id: pulumi.Output[str]
    vnet_name: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    nat_gateway_id: pulumi.Output[str] | None  # None without network.nat
    nsg_id: pulumi.Output[str]
    subnet_prefix: str

    def __init__(self, name: str, args: AzureNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        refuse(check_ssh_cidr(args.ssh_cidr, args.allow_world_ssh, min_prefix=args.ssh_min_prefix))
        if args.network.vpc_id or args.network.public_subnet_ids or args.network.private_subnet_ids:
            raise ValueError("network.vpc_id: an existing network is not supported on target azure; "
                             "remove vpc_id and the subnet ids (a new virtual network is made from vpc_cidr)")
        self.subnet_prefix = cluster_subnet(args.network.vpc_cidr, args.nodes)
        super().__init__("cloud-hpc-toolkit:azure:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        common = {"location": args.location, "tags": args.tags}

        group = resources.ResourceGroup(f"{name}-rg", **common, opts=child)
        where = {"resource_group_name": group.name, **common}
        nsg = network.NetworkSecurityGroup(f"{name}-cluster", security_rules=security_rules(
            args.ssh_cidr, self.subnet_prefix, args.spark_gateway), **where, opts=child)
        vnet = network.VirtualNetwork(f"{name}-vnet", address_space=network.AddressSpaceArgs(
            address_prefixes=[args.network.vpc_cidr]), **where, opts=child)
        nat = self._nat_gateway(name, where, child) if args.network.nat else None
        subnet = network.Subnet(
            f"{name}-cluster", resource_group_name=group.name, virtual_network_name=vnet.name,
            address_prefix=self.subnet_prefix, network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
            # Storage: the NFS share admits this subnet; Key Vault: the nodes' boot secrets admit it too.
            service_endpoints=[network.ServiceEndpointPropertiesFormatArgs(service=service)
                               for service in ("Microsoft.Storage", "Microsoft.KeyVault")],
            nat_gateway=network.SubResourceArgs(id=nat.id) if nat else None,
            # Outbound only through the NAT gateway (or not at all), never Azure's implicit default access.
            default_outbound_access=False, opts=child)

        self.resource_group_name = group.name
        self.vnet_id = vnet.id
        self.vnet_name = vnet.name
        self.subnet_id = subnet.id
        self.nat_gateway_id = nat.id if nat else None
        self.nsg_id = nsg.id
        self.register_outputs({"resource_group_name": self.resource_group_name, "vnet_id": self.vnet_id,
                               "vnet_name": self.vnet_name, "nat_gateway_id": self.nat_gateway_id,
                               "subnet_id": self.subnet_id, "nsg_id": self.nsg_id,
                               "subnet_prefix": self.subnet_prefix})

    @staticmethod
    def _nat_gateway(name: str, where: dict[str, object], child: pulumi.ResourceOptions) -> network.NatGateway:
        """Compute nodes have no public address: packages at boot come through this gateway's address."""
        address = network.PublicIPAddress(
            f"{name}-nat-ip", sku=network.PublicIPAddressSkuArgs(name="Standard"),
            public_ip_allocation_method="Static", public_ip_address_version="IPv4", **where, opts=child)
        return network.NatGateway(f"{name}-nat", sku=network.NatGatewaySkuArgs(name="Standard"),
                                  public_ip_addresses=[network.SubResourceArgs(id=address.id)], **where, opts=child)
