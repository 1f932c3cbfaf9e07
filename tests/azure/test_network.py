"""The Azure network component against recording mocks: one cluster subnet in the spec's address space,
a security group admitting SSH from the given CIDR and the subnet itself only, NAT for outbound, and the
service endpoint the Azure Files network rule needs."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.azure.network import AzureNetwork, AzureNetworkArgs, cluster_subnet
from components.security import WORLD_MARKER, SecurityViolation, check_resource
from spec import environment as spec
from tests.azure.conftest import AzureMocks

NSG = "azure-native:network:NetworkSecurityGroup"
SUBNET = "azure-native:network:Subnet"
VNET = "azure-native:network:VirtualNetwork"
NAT = "azure-native:network:NatGateway"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
GROUP = "azure-native:resources:ResourceGroup"
TAGS = {"chpc:environment": "hpc"}


def build(ssh_cidr: str = "198.51.100.0/24", allow_world: bool = False, nodes: int = 4, spark_gateway: bool = False,
          **network: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        net = AzureNetwork("hpc", AzureNetworkArgs(
            network=spec.Network(**{"vpc_cidr": "10.30.0.0/16", **network}), ssh_cidr=ssh_cidr,
            allow_world_ssh=allow_world, location="westeurope", tags=TAGS, nodes=nodes, spark_gateway=spark_gateway))
        seen["subnet_prefix"] = net.subnet_prefix
        outputs = {"resource_group_name": net.resource_group_name, "vnet_id": net.vnet_id,
                   "subnet_id": net.subnet_id, "nsg_id": net.nsg_id}
        return pulumi.Output.all(**outputs).apply(seen.update)

    program()
    return seen


def rule_rows(mocks: AzureMocks) -> list[tuple[Any, ...]]:
    rules = mocks.one(NSG).inputs["securityRules"]
    return [(r["name"], r["priority"], r["direction"], r["access"], r["protocol"], r["sourceAddressPrefix"],
             r["sourcePortRange"], r["destinationAddressPrefix"], r["destinationPortRange"]) for r in rules]


def test_one_cluster_subnet_in_the_spec_address_space_with_its_group_and_endpoint(mocks: AzureMocks) -> None:
    outputs = build()
    assert mocks.one(VNET).inputs["addressSpace"] == {"addressPrefixes": ["10.30.0.0/16"]}
    subnet = mocks.one(SUBNET).inputs
    assert subnet["addressPrefix"] == outputs["subnet_prefix"] == "10.30.0.0/20"
    assert subnet["virtualNetworkName"] == "hpc-vnet" and subnet["resourceGroupName"] == "hpc-rg"
    assert subnet["networkSecurityGroup"]["id"] == outputs["nsg_id"] and outputs["nsg_id"].endswith("/hpc-cluster")
    # the share and the boot secrets admit this subnet through its endpoints
    assert subnet["serviceEndpoints"] == [{"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}]
    assert subnet["defaultOutboundAccess"] is False
    assert outputs["subnet_id"].endswith("Subnet/hpc-cluster") and outputs["vnet_id"].endswith("/hpc-vnet")
    assert outputs["resource_group_name"] == "hpc-rg"
    for resource in (GROUP, NSG, VNET):
        assert mocks.one(resource).inputs["location"] == "westeurope"
        assert mocks.one(resource).inputs["tags"] == TAGS


def test_security_rules_ssh_from_the_cidr_the_subnet_from_itself_and_nothing_else(mocks: AzureMocks) -> None:
    build()
    assert rule_rows(mocks) == [
        ("ssh-from-allowed-cidr", 100, "Inbound", "Allow", "Tcp", "198.51.100.0/24", "*", "10.30.0.0/20", "22"),
        ("cluster-internal", 110, "Inbound", "Allow", "*", "10.30.0.0/20", "*", "10.30.0.0/20", "*"),
        ("deny-all-other-inbound", 4096, "Inbound", "Deny", "*", "*", "*", "*", "*"),
    ]
    assert WORLD_MARKER not in str(mocks.one(NSG).inputs)


def test_an_hdinsight_gateway_takes_https_from_its_service_and_the_cidr_inline(mocks: AzureMocks) -> None:
    """Inline, so that no `up` rewriting the group's rules drops them (separate rule resources would be)."""
    build(spark_gateway=True)
    assert rule_rows(mocks) == [
        ("ssh-from-allowed-cidr", 100, "Inbound", "Allow", "Tcp", "198.51.100.0/24", "*", "10.30.0.0/20", "22"),
        ("cluster-internal", 110, "Inbound", "Allow", "*", "10.30.0.0/20", "*", "10.30.0.0/20", "*"),
        ("hdinsight-management", 120, "Inbound", "Allow", "Tcp", "HDInsight", "*", "10.30.0.0/20", "443"),
        ("hdinsight-gateway-clients", 130, "Inbound", "Allow", "Tcp", "198.51.100.0/24", "*", "10.30.0.0/20",
         "443"),
        ("deny-all-other-inbound", 4096, "Inbound", "Deny", "*", "*", "*", "*", "*"),
    ]
    assert mocks.of_type("azure-native:network:SecurityRule") == []


def test_nat_gateway_with_a_static_standard_address_on_the_subnet(mocks: AzureMocks) -> None:
    build()
    nat = mocks.one(NAT).inputs
    address = mocks.one(PUBLIC_IP)
    assert nat["sku"] == {"name": "Standard"}
    assert nat["publicIpAddresses"] == [{"id": f"/subscriptions/0000/resourceGroups/rg/providers/{PUBLIC_IP}/"
                                               f"{address.name}"}]
    assert (address.inputs["sku"], address.inputs["publicIPAllocationMethod"]) == ({"name": "Standard"}, "Static")
    assert mocks.one(SUBNET).inputs["natGateway"]["id"].endswith("NatGateway/hpc-nat")


def test_no_nat_means_no_gateway_and_no_address(mocks: AzureMocks) -> None:
    build(nat=False)
    assert mocks.of_type(NAT) == [] and mocks.of_type(PUBLIC_IP) == []
    assert "natGateway" not in mocks.one(SUBNET).inputs


@pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"])
def test_world_open_ssh_refused_before_anything_is_declared(mocks: AzureMocks, world: str) -> None:
    with pytest.raises(SecurityViolation, match=r"\[ssh-world-open\] ssh.allowed_cidr"):
        build(ssh_cidr=world)
    assert mocks.resources == []


def test_world_open_ssh_with_the_flag_is_declared_marked_and_reported_as_a_warning(mocks: AzureMocks) -> None:
    build(ssh_cidr="0.0.0.0/0", allow_world=True)
    ssh = mocks.one(NSG).inputs["securityRules"][0]
    assert ssh["sourceAddressPrefix"] == "0.0.0.0/0" and WORLD_MARKER in ssh["description"]
    findings = check_resource(NSG, mocks.one(NSG).inputs, "hpc-cluster")
    assert [(f.rule, f.severity) for f in findings] == [("ssh-world-open", "warning")]


def test_every_declared_resource_passes_the_resource_rules(mocks: AzureMocks) -> None:
    build()
    assert {r.type for r in mocks.resources} >= {NSG, SUBNET, VNET, NAT}
    assert [f.line() for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)] == []


def test_an_existing_network_is_refused(mocks: AzureMocks) -> None:
    with pytest.raises(ValueError, match="network.vpc_id: an existing network is not supported on target azure"):
        build(vpc_id="vpc-0a1b2c3d", public_subnet_ids=["subnet-0a1b2c3d"], private_subnet_ids=["subnet-1a1b2c3d"])
    assert mocks.resources == []


@pytest.mark.parametrize(("vnet", "nodes", "message"), [
    ("10.0.0.0/28", 1, "give an IPv4 network of /25 or larger"),
    ("10.0.0.0/22", 1000, r"its cluster subnet 10.0.0.0/26 holds 58 nodes, not 1000"),
])
def test_a_network_too_small_for_the_cluster_is_refused(mocks: AzureMocks, vnet: str, nodes: int,
                                                        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(vpc_cidr=vnet, nodes=nodes)
    assert mocks.resources == []


def test_the_cluster_subnet_is_the_first_sixteenth_and_holds_the_nodes() -> None:
    assert cluster_subnet("10.30.0.0/16", 1000) == "10.30.0.0/20"
    assert cluster_subnet("192.168.0.0/24", 2) == "192.168.0.0/28"
    assert cluster_subnet("10.0.0.0/18", 1018) == "10.0.0.0/22"  # 1,024 addresses: 1,018 nodes, the head, 5 kept
    with pytest.raises(ValueError):
        cluster_subnet("10.0.0.0/18", 1019)
