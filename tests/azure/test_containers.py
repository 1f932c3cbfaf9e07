"""The Azure container service component against recording mocks: container groups with a private IP only in
their own delegated subnet, a user-assigned identity without roles, logs in a Log Analytics workspace whose key
stays a secret, the spec's sizes converted to ACI's units, and what it refuses."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.azure.containers import AzureContainerService, AzureContainerServiceArgs, container_subnet, memory_gb
from components.security import SecurityViolation, check_resource
from spec import environment as spec
from tests.aws.mocks import assert_all_children_of
from tests.azure.conftest import WORKSPACE_CUSTOMER_ID, AzureMocks
from tests.pulumi_helpers import plain_strings, secret_value

GROUP = "azure-native:containerinstance:ContainerGroup"
WORKSPACE = "azure-native:operationalinsights:Workspace"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
COMPONENT = "cloud-hpc-toolkit:azure:ContainerService"
TAGS = {"chpc:environment": "hpc"}
NAT_ID = "/subscriptions/0000/resourceGroups/rg/providers/azure-native:network:NatGateway/hpc-nat"
OUTPUTS = ("group_names", "group_ids", "subnet_id", "nsg_id", "identity_id", "workspace_customer_id")


def containers(**overrides: Any) -> spec.Containers:
    settings: dict[str, Any] = {"image": "mcr.microsoft.com/azurelinux/base/python:3.12", "cpu": 512,
                                "memory_mb": 1536, "desired_count": 1, "command": ["python3", "-m", "http.server"],
                                "environment": {"ZETA": "last", "ALPHA": "first"}, "port": 8000}
    return spec.Containers(**{**settings, **overrides})


def build(settings: spec.Containers, nat_gateway_id: str | None = NAT_ID,
          vnet_cidr: str = "10.40.0.0/16") -> dict[str, Any]:
    """Declare the component; return its outputs resolved, and fail unless every child is parented to it."""
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        service = AzureContainerService("hpc", AzureContainerServiceArgs(
            containers=settings, resource_group_name="hpc-rg", location="westeurope", vnet_name="hpc-vnet",
            vnet_cidr=vnet_cidr, tags=TAGS, nat_gateway_id=nat_gateway_id))
        values["container_name"] = service.container_name
        return pulumi.Output.all(**{key: getattr(service, key) for key in OUTPUTS}).apply(values.update)

    program()
    assert_all_children_of(COMPONENT, "hpc")
    return values


def group(mocks: AzureMocks) -> dict[str, Any]:
    return mocks.one(GROUP).inputs


def test_the_group_runs_the_spec_container_always_restarted(mocks: AzureMocks) -> None:
    outputs = build(containers())
    inputs = group(mocks)
    assert (inputs["osType"], inputs["restartPolicy"], inputs["sku"]) == ("Linux", "Always", "Standard")
    [app] = inputs["containers"]
    assert (app["name"], app["image"]) == ("hpc", "mcr.microsoft.com/azurelinux/base/python:3.12")
    assert app["command"] == ["python3", "-m", "http.server"]
    assert app["environmentVariables"] == [{"name": "ALPHA", "value": "first"}, {"name": "ZETA", "value": "last"}]
    assert app["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert outputs["container_name"] == "hpc" and outputs["group_names"] == ["hpc-group-0"]
    assert outputs["group_ids"] == [f"/subscriptions/0000/resourceGroups/rg/providers/{GROUP}/hpc-group-0"]


@pytest.mark.parametrize(("cpu", "memory_mb", "cores", "gb"), [
    (256, 512, 0.25, 0.5), (1024, 1536, 1.0, 1.5), (4096, 30720, 4.0, 30.0),
    (512, 1000, 0.5, 1.0),  # 0.98 GB asked: ACI takes steps of 0.1 GB, rounded up, never less than asked
])
def test_cpu_units_and_mib_become_aci_cores_and_gb(mocks: AzureMocks, cpu: int, memory_mb: int, cores: float,
                                                   gb: float) -> None:
    build(containers(cpu=cpu, memory_mb=memory_mb))
    assert group(mocks)["containers"][0]["resources"] == {"requests": {"cpu": cores, "memoryInGB": gb}}


def test_memory_is_rounded_up_to_a_tenth_of_a_gb() -> None:
    assert [memory_gb(mb) for mb in (512, 513, 1024, 1127, 2048)] == [0.5, 0.6, 1.0, 1.2, 2.0]


def test_the_group_sits_in_its_own_delegated_subnet_with_a_private_ip_only(mocks: AzureMocks) -> None:
    outputs = build(containers())
    subnet = mocks.one(SUBNET).inputs
    assert (subnet["virtualNetworkName"], subnet["resourceGroupName"]) == ("hpc-vnet", "hpc-rg")
    assert subnet["addressPrefix"] == "10.40.16.0/20"  # the slot after the cluster subnet 10.40.0.0/20
    assert subnet["delegations"] == [{"name": "container-groups",
                                      "serviceName": "Microsoft.ContainerInstance/containerGroups"}]
    assert subnet["natGateway"] == {"id": NAT_ID} and subnet["defaultOutboundAccess"] is False
    assert subnet["networkSecurityGroup"] == {"id": outputs["nsg_id"]}
    inputs = group(mocks)
    assert inputs["subnetIds"] == [{"id": outputs["subnet_id"]}]
    address = inputs["ipAddress"]  # the SDK adds its default DNS label scope, which a private IP never uses
    assert (address["type"], address["ports"], "dnsNameLabel" in address) == (
        "Private", [{"port": 8000, "protocol": "TCP"}], False)


def test_without_a_port_the_group_has_no_ip_address_and_the_subnet_takes_nothing_in(mocks: AzureMocks) -> None:
    build(containers(port=None), nat_gateway_id=None)
    assert "ipAddress" not in group(mocks) and "ports" not in group(mocks)["containers"][0]
    [deny] = mocks.one(NSG).inputs["securityRules"]
    assert (deny["access"], deny["direction"], deny["sourceAddressPrefix"], deny["priority"]) == (
        "Deny", "Inbound", "*", 4096)
    assert "natGateway" not in mocks.one(SUBNET).inputs


def test_the_port_is_open_to_the_virtual_network_only(mocks: AzureMocks) -> None:
    build(containers(port=8000))
    allow, deny = mocks.one(NSG).inputs["securityRules"]
    assert (allow["access"], allow["protocol"], allow["sourceAddressPrefix"], allow["destinationAddressPrefix"],
            allow["destinationPortRange"]) == ("Allow", "Tcp", "10.40.0.0/16", "10.40.16.0/20", "8000")
    assert allow["priority"] < deny["priority"] and deny["access"] == "Deny"


def test_a_user_assigned_identity_without_any_role(mocks: AzureMocks) -> None:
    outputs = build(containers())
    assert group(mocks)["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [outputs["identity_id"]]}
    assert outputs["identity_id"].endswith(f"{IDENTITY}/hpc-identity")
    assert [r for r in mocks.resources if r.type.startswith("azure-native:authorization:")] == []


def test_logs_go_to_a_workspace_kept_30_days_with_its_key_a_secret(mocks: AzureMocks) -> None:
    outputs = build(containers())
    workspace = mocks.one(WORKSPACE).inputs
    assert (workspace["retentionInDays"], workspace["sku"]) == (30, {"name": "PerGB2018"})
    logs = secret_value(group(mocks)["diagnostics"])["logAnalytics"]  # the key makes the whole block secret
    assert (logs["workspaceId"], logs["logType"]) == (WORKSPACE_CUSTOMER_ID, "ContainerInstanceLogs")
    assert logs["workspaceResourceId"].endswith(f"{WORKSPACE}/hpc-logs")  # where run-task fetches the key
    assert logs["workspaceKey"] == "mock-workspace-key=="
    assert "mock-workspace-key==" not in list(plain_strings(group(mocks)))
    assert outputs["workspace_customer_id"] == WORKSPACE_CUSTOMER_ID
    assert ("azure-native:operationalinsights:getSharedKeys", {"resourceGroupName": "hpc-rg",
                                                              "workspaceName": "hpc-logs"}) in mocks.calls


def test_every_resource_is_tagged_and_placed_in_the_location(mocks: AzureMocks) -> None:
    build(containers())
    placed = [r for r in mocks.resources if r.type not in (COMPONENT, SUBNET)]
    assert {r.type for r in placed} == {GROUP, WORKSPACE, IDENTITY, NSG}
    assert all(r.inputs["tags"] == TAGS and r.inputs["location"] == "westeurope" for r in placed)
    assert all(r.inputs["resourceGroupName"] == "hpc-rg" for r in placed)


def test_every_declared_resource_passes_the_resource_rules(mocks: AzureMocks) -> None:
    build(containers())
    assert [f.line() for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)] == []


def test_each_replica_is_an_identical_group(mocks: AzureMocks) -> None:
    outputs = build(containers(desired_count=3))
    groups = mocks.of_type(GROUP)
    assert outputs["group_names"] == sorted(g.name for g in groups) == ["hpc-group-0", "hpc-group-1", "hpc-group-2"]
    assert all(g.inputs["containers"] == groups[0].inputs["containers"] for g in groups)
    assert len(mocks.of_type(SUBNET)) == 1 and len(mocks.of_type(WORKSPACE)) == 1


def test_a_count_of_zero_is_refused_before_anything_is_declared(mocks: AzureMocks) -> None:
    with pytest.raises(ValueError, match=r"containers.desired_count = 0: Azure Container Instances .* 1 or more"):
        build(containers(desired_count=0))
    assert mocks.resources == []


def test_a_plaintext_secret_in_the_environment_is_refused_before_anything_is_declared(mocks: AzureMocks) -> None:
    with pytest.raises(SecurityViolation, match=r"\[plaintext-secret\] hpc-group: container hpc gets DB_PASSWORD"):
        build(containers(environment={"DB_PASSWORD": "hunter2", "MODE": "prod"}))
    assert mocks.resources == []


def test_a_network_too_small_for_the_groups_is_refused(mocks: AzureMocks) -> None:
    with pytest.raises(ValueError, match=r"container subnet 10.0.0.8/29 holds 3 container groups, not 3 and one"):
        build(containers(desired_count=3), vnet_cidr="10.0.0.0/25")
    assert mocks.resources == []


def test_the_container_subnet_is_the_second_slot() -> None:
    assert container_subnet("10.40.0.0/16", 1) == "10.40.16.0/20"
    assert container_subnet("192.168.0.0/24", 10) == "192.168.0.16/28"  # 16 addresses: 10 groups, run-task, 5 kept
    with pytest.raises(ValueError):
        container_subnet("192.168.0.0/24", 11)


def test_the_rule_refuses_a_public_container_group() -> None:
    [finding] = check_resource(GROUP, {"ipAddress": {"type": "Public", "ports": [{"port": 80}]}, "containers": []},
                               "web")
    assert (finding.rule, finding.severity, finding.resource) == ("public-container-group", "error", "web")
    assert check_resource(GROUP, {"ipAddress": {"type": "Private"}, "containers": []}) == []
    secure = {"containers": [{"name": "app", "environmentVariables": [{"name": "API_KEY", "secureValue": "x"}]}]}
    assert check_resource(GROUP, secure) == []  # a secure value is what the rule asks for
