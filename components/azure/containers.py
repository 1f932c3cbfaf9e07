"""The container service on Azure Container Instances: the spec's image run as ``desired_count`` container
groups (restart policy Always) in a subnet of the environment's virtual network, with a private IP only, a
user-assigned identity without any role, and its log in a Log Analytics workspace; `invoke run-task` copies a
group's definition for one-off runs (targets/azure/container_tasks.py).

ACI has no service that keeps N replicas of one definition (ECS's ``desired_count``), so each replica is its
own container group, all identical; like the AWS service without a load balancer, nothing spreads traffic
over them. A count of 0 (a definition kept for one-off runs only) has no ACI equivalent: a container group
always runs, so it is refused.

Container groups need a subnet delegated to ``Microsoft.ContainerInstance/containerGroups``, and virtual
machines cannot sit in a delegated subnet, so the groups get their own: the second slot of the virtual network
(the cluster subnet is the first, components/azure/network.py), with its own security group and the
network's NAT gateway for outbound traffic (image pulls).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pulumi
import pulumi_azure_native.containerinstance as aci
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.network as network
import pulumi_azure_native.operationalinsights as operationalinsights

from components.azure.network import DENY_PRIORITY, SLOT_BITS
from components.security import check_resource, refuse
from spec import environment as spec

CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
DELEGATION = "Microsoft.ContainerInstance/containerGroups"
LOG_RETENTION_DAYS = 30
CONTAINER_SLOT = 1  # the cluster subnet is slot 0
PORT_PRIORITY = 100
ACI_RESERVED = 5  # addresses Azure keeps in every subnet


@dataclass(frozen=True)
class AzureContainerServiceArgs:
    containers: spec.Containers
    resource_group_name: pulumi.Input[str]
    location: str
    vnet_name: pulumi.Input[str]
    vnet_cidr: str  # the virtual network's address space: the subnet is carved from it, the port opened to it
    tags: dict[str, str]
    nat_gateway_id: pulumi.Input[str] | None = None  # outbound for image pulls; None leaves the groups without


def container_subnet(vnet_cidr: str, groups: int) -> str:
    """The delegated subnet's prefix: the slot after the cluster subnet, refused when it could not hold the
    service's groups and one one-off group of `invoke run-task` (each group takes one address)."""
    vnet = ipaddress.ip_network(vnet_cidr, strict=False)
    subnet = next(islice(vnet.subnets(new_prefix=vnet.prefixlen + SLOT_BITS), CONTAINER_SLOT, None))
    if subnet.num_addresses < groups + 1 + ACI_RESERVED:
        raise ValueError(f"network.vpc_cidr = {vnet_cidr}: its container subnet {subnet} holds "
                         f"{subnet.num_addresses - ACI_RESERVED} container groups, not {groups} and one for "
                         "run-task; give a larger network or a smaller containers.desired_count")
    return str(subnet)


def cpu_cores(cpu_units: int) -> float:
    """The spec's CPU units (1024 per core, as ECS counts them) as the cores ACI takes."""
    return cpu_units / 1024


def memory_gb(memory_mb: int) -> float:
    """The spec's MiB as the GB ACI takes, rounded up to its 0.1 GB step (never less than asked for)."""
    return math.ceil(memory_mb * 10 / 1024) / 10


def container(name: str, containers: spec.Containers) -> dict[str, Any]:
    """The container as ARM takes it (camelCase, what the security rules read)."""
    definition: dict[str, Any] = {
        "name": name, "image": containers.image,
        "resources": {"requests": {"cpu": cpu_cores(containers.cpu), "memoryInGB": memory_gb(containers.memory_mb)}},
        "environmentVariables": [{"name": key, "value": value}
                                 for key, value in sorted(containers.environment.items())],
    }
    if containers.command:
        definition["command"] = list(containers.command)
    if containers.port is not None:
        definition["ports"] = [{"port": containers.port, "protocol": "TCP"}]
    return definition


def security_rules(port: int | None, vnet_cidr: str, subnet: str) -> list[network.SecurityRuleArgs]:
    """The container port from inside the virtual network only, and nothing else inbound (Azure's default
    AllowVnetInBound would admit the whole network and its peers on every port)."""
    rules = [network.SecurityRuleArgs(
        name="deny-all-other-inbound", priority=DENY_PRIORITY, direction="Inbound", access="Deny", protocol="*",
        source_address_prefix="*", source_port_range="*", destination_address_prefix="*",
        destination_port_range="*", description="Nothing else reaches the container groups")]
    if port is not None:
        rules.insert(0, network.SecurityRuleArgs(
            name="container-port-from-vnet", priority=PORT_PRIORITY, direction="Inbound", access="Allow",
            protocol="Tcp", source_address_prefix=vnet_cidr, source_port_range="*",
            destination_address_prefix=subnet, destination_port_range=str(port),
            description="Container port from inside the virtual network"))
    return rules


class AzureContainerService(pulumi.ComponentResource):
    """Log Analytics workspace, identity, delegated subnet with its security group, and the container groups."""

    group_names: pulumi.Output[list[str]]
    group_ids: pulumi.Output[list[str]]
    subnet_id: pulumi.Output[str]
    nsg_id: pulumi.Output[str]
    identity_id: pulumi.Output[str]
    workspace_customer_id: pulumi.Output[str]
    container_name: str

    def __init__(self, name: str, args: AzureContainerServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        containers, tags = args.containers, args.tags
        if containers.desired_count < 1:
            raise ValueError(f"containers.desired_count = {containers.desired_count}: Azure Container Instances "
                             "keeps no stopped service to run one-off tasks from; give 1 or more on target azure")
        prefix = container_subnet(args.vnet_cidr, containers.desired_count)
        definition = container(name, containers)
        refuse(check_resource(CONTAINER_GROUP, {"containers": [definition], "ipAddress": {"type": "Private"}},
                              f"{name}-group"))
        super().__init__("cloud-hpc-toolkit:azure:ContainerService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        where = {"resource_group_name": args.resource_group_name, "location": args.location, "tags": tags}

        workspace = operationalinsights.Workspace(
            f"{name}-logs", sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=LOG_RETENTION_DAYS, **where, opts=child)
        keys = operationalinsights.get_shared_keys_output(
            resource_group_name=args.resource_group_name, workspace_name=workspace.name,
            opts=pulumi.InvokeOutputOptions(parent=self))
        # The application's identity: no role at all until the user grants what the app needs; one-off runs
        # take the same identity, so they can do exactly what the service can.
        identity = managedidentity.UserAssignedIdentity(f"{name}-identity", **where, opts=child)

        nsg = network.NetworkSecurityGroup(f"{name}-containers", security_rules=security_rules(
            containers.port, args.vnet_cidr, prefix), **where, opts=child)
        subnet = network.Subnet(
            f"{name}-containers", resource_group_name=args.resource_group_name,
            virtual_network_name=args.vnet_name, address_prefix=prefix,
            delegations=[network.DelegationArgs(name="container-groups", service_name=DELEGATION)],
            network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
            nat_gateway=network.SubResourceArgs(id=args.nat_gateway_id) if args.nat_gateway_id else None,
            default_outbound_access=False, opts=child)

        diagnostics = aci.ContainerGroupDiagnosticsArgs(log_analytics=aci.LogAnalyticsArgs(
            workspace_id=workspace.customer_id, workspace_resource_id=workspace.id,
            workspace_key=pulumi.Output.secret(keys.primary_shared_key),
            log_type="ContainerInstanceLogs"))
        ports = definition.get("ports")
        groups = [aci.ContainerGroup(
            f"{name}-group-{index}", containers=[aci.ContainerArgs(
                name=name, image=containers.image, command=definition.get("command"),
                environment_variables=[aci.EnvironmentVariableArgs(**variable)
                                       for variable in definition["environmentVariables"]],
                ports=[aci.ContainerPortArgs(**port) for port in ports] if ports else None,
                resources=aci.ResourceRequirementsArgs(requests=aci.ResourceRequestsArgs(
                    cpu=cpu_cores(containers.cpu), memory_in_gb=memory_gb(containers.memory_mb))))],
            os_type="Linux", restart_policy="Always", sku="Standard",
            subnet_ids=[aci.ContainerGroupSubnetIdArgs(id=subnet.id)],
            # No ip_address without a port: nothing can reach the group at all, and never a public one.
            ip_address=aci.IpAddressArgs(type="Private", ports=[aci.PortArgs(**port) for port in ports])
            if ports else None,
            identity=aci.ContainerGroupIdentityArgs(type="UserAssigned", user_assigned_identities=[identity.id]),
            diagnostics=diagnostics, **where, opts=child) for index in range(containers.desired_count)]

        self.group_names = pulumi.Output.all(*[group.name for group in groups])
        self.group_ids = pulumi.Output.all(*[group.id for group in groups])
        self.subnet_id = subnet.id
        self.nsg_id = nsg.id
        self.identity_id = identity.id
        self.workspace_customer_id = workspace.customer_id
        self.container_name = name
        self.register_outputs({
            "group_names": self.group_names, "group_ids": self.group_ids, "subnet_id": self.subnet_id,
            "nsg_id": self.nsg_id, "identity_id": self.identity_id,
            "workspace_customer_id": self.workspace_customer_id, "container_name": self.container_name,
        })
