"""The real program for the shipped Azure stack config, under mocks: network, storage and cluster wired to
each other, every resource tagged and placed in the spec's location, and exports that are exactly the
outputs contract every later task reads."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from components.azure.storage import account_name
from components.security import check_resource
from spec.environment import Environment
from spec.loader import load_spec_file, load_stack_config
from spec.outputs import ENVIRONMENT_TAG, ComputeMachine, Outputs
from stacks.azure import NFS_OPTIONS
from tests.aws.mocks import APP_TOKEN, CALLS, USER_TOKEN
from tests.azure.conftest import HEAD_PUBLIC_IP, WORKSPACE_CUSTOMER_ID, AzureMocks
from tests.azure.test_slurm_cluster import power_config
from tests.boot.documents import boot_of, custom_data_text, parsed, variables_of
from tests.contract import assert_contract
from tests.pulumi_helpers import export, secret_value, with_volumes

ROOT = Path(__file__).resolve().parents[2]
VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
DISK = "azure-native:compute:Disk"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
ACCOUNT = "azure-native:storage:StorageAccount"


def resource_id(mocks: AzureMocks, type_token: str) -> str:
    return f"/subscriptions/0000/resourceGroups/rg/providers/{type_token}/{mocks.one(type_token).name}"


def test_azure_stack_exports_the_contract(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(load_stack_config("azure-hpc-dev", ROOT)))
    assert (outputs.target, outputs.name, outputs.region, outputs.ssh_user) == ("azure", "azure-hpc-dev",
                                                                                 "westeurope", "azureuser")
    assert outputs.head is not None and outputs.head.address == HEAD_PUBLIC_IP
    assert outputs.head.host_key.startswith("ssh-ed25519 ") and outputs.computes == []
    assert outputs.fleet is not None and outputs.fleet.provider == "azure"
    assert (outputs.fleet.region, outputs.fleet.expected, outputs.fleet.tag_value) == ("westeurope", 4,
                                                                                       "azure-hpc-dev")
    assert mocks.one(VMSS).inputs["tags"][outputs.fleet.tag_key] == outputs.fleet.tag_value
    assert mocks.one(VMSS).inputs["vmScaleSetName"] == "azure-hpc-dev-compute"
    # the resource group is the stack's own: the nodes are found there by their tags, in any partition's scale set
    assert outputs.fleet.group is None and outputs.fleet.vpc_id is None
    assert [(p.name, p.min, p.max, p.nodes) for p in outputs.partitions] == [
        ("compute", 4, 4, ["compute-0", "compute-1", "compute-2", "compute-3"])]
    [scratch] = outputs.volumes
    assert (scratch.node, scratch.mount, scratch.retain, scratch.device, scratch.volume_id) == (
        "head", "/scratch", True, "/dev/disk/azure/scsi1/lun0", resource_id(mocks, DISK))
    account = account_name("azure-hpc-dev", "azure-hpc-dev-rg")  # the mock names the group by its logical name
    assert outputs.shared is not None
    assert (outputs.shared.kind, outputs.shared.mount, outputs.shared.options) == ("nfs", "/shared", NFS_OPTIONS)
    assert outputs.shared.source == f"{account}.file.core.windows.net:/{account}/shared"
    assert outputs.containers is None and outputs.spark is None
    assert outputs.compute_machine == ComputeMachine(instance_type="Standard_HB120rs_v3", networking="rdma")
    assert outputs.azure is not None
    assert outputs.azure.subscription_id == "00000000-0000-0000-0000-00000000aaaa"
    assert outputs.azure.resource_group == "azure-hpc-dev-rg"  # the mock names the group by its logical name


def test_components_are_wired_to_each_other(mocks: AzureMocks) -> None:
    export(load_stack_config("azure-hpc-dev", ROOT))
    subnet_id, disk_id = resource_id(mocks, SUBNET), resource_id(mocks, DISK)
    [data_disk] = mocks.one(VM).inputs["storageProfile"]["dataDisks"]
    assert (data_disk["lun"], data_disk["managedDisk"]) == (0, {"id": disk_id})  # lun0: the exported device
    rules = mocks.one(ACCOUNT).inputs["networkRuleSet"]["virtualNetworkRules"]
    assert rules == [{"virtualNetworkResourceId": subnet_id, "action": "Allow"}]
    [nic] = mocks.of_type("azure-native:network:NetworkInterface")
    assert nic.inputs["ipConfigurations"][0]["subnet"]["id"] == subnet_id
    assert mocks.one(DISK).inputs["diskIOPSReadWrite"] == 6000  # the PremiumV2_LRS scratch of the config


def test_every_resource_is_tagged_and_placed_in_the_spec_location(mocks: AzureMocks) -> None:
    export(load_stack_config("azure-hpc-dev", ROOT))
    azure = [r for r in mocks.resources if r.type.startswith("azure-native:")]
    assert len(azure) >= 12 and not [r for r in mocks.resources if r.type.startswith("aws:")]
    # neither a subnet, a share, a vault's secret, a role definition nor assignment has a location of its own
    placed = [r for r in azure if r.type not in (SUBNET, "azure-native:storage:FileShare",
                                                 "azure-native:keyvault:Secret",
                                                 "azure-native:authorization:RoleAssignment",
                                                 "azure-native:authorization:RoleDefinition")]
    assert {r.inputs["location"] for r in placed} == {"westeurope"}
    assert all(r.inputs["tags"][ENVIRONMENT_TAG] == "azure-hpc-dev" for r in placed), \
        [r.name for r in placed if ENVIRONMENT_TAG not in r.inputs.get("tags", {})]


def test_the_only_finding_is_the_nfs_transit_warning(mocks: AzureMocks) -> None:
    export(load_stack_config("azure-hpc-dev", ROOT))
    findings = [(f.rule, f.severity) for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)]
    assert findings == [("azure-https-only", "warning")]


def test_the_example_spec_builds(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(load_spec_file(ROOT / "examples/specs/azure-hpc.yaml")))
    assert outputs.name == "hpc-azure" and [v.device for v in outputs.volumes] == ["/dev/disk/azure/scsi1/lun0"]
    assert mocks.one(DISK).inputs["sku"] == {"name": "Premium_LRS"}
    assert power_config(mocks).partitions["compute"].vm_sizes == ("Standard_HB120rs_v3",)
    assert assert_contract(export(load_spec_file(ROOT / "examples/specs/azure-hpc.yaml"))).fleet.expected == 4


def test_resources_do_not_grow_with_the_node_count(mocks: AzureMocks) -> None:
    env = load_stack_config("azure-hpc-dev", ROOT)
    export(env.model_copy(update={"partitions": [env.slurm_partitions[0].model_copy(update={"min": 2, "max": 2})]}))
    small = Counter(r.type for r in mocks.resources)
    mocks.resources.clear()
    export(env.model_copy(update={"partitions": [env.slurm_partitions[0].model_copy(update={"min": 1000,
                                                                                            "max": 1000})]}))
    assert Counter(r.type for r in mocks.resources) == small


def test_spark_stack_exports_livy_its_storage_and_a_secret_login(mocks: AzureMocks, tmp_path: Path) -> None:
    outputs = assert_contract(export(load_stack_config("azure-spark-dev", ROOT)))
    spark = outputs.spark
    assert spark is not None and outputs.head is None and outputs.fleet is None
    cluster = mocks.one("azure-native:hdinsight:Cluster")
    assert (spark.provider, spark.region, spark.user) == ("azure", "westeurope", "admin")
    assert spark.master == f"https://{cluster.name}.azurehdinsight.net/livy"
    account = account_name("azure-spark-dev", "azure-spark-dev-rg/spark")
    assert spark.bucket == f"https://{account}.blob.core.windows.net/spark"
    assert spark.password is not None
    assert spark.password.get_secret_value() == "Mock-azure-spark-dev-gateway-Passw0rd!"
    assert "Passw0rd" not in repr(outputs) and "Passw0rd" not in str(spark.model_dump())
    outputs.save(tmp_path / "outputs.json")
    assert (tmp_path / "outputs.json").stat().st_mode & 0o777 == 0o600
    assert Outputs.load(tmp_path / "outputs.json") == outputs
    properties = secret_value(cluster.inputs["properties"])
    roles = {role["name"]: role for role in properties["computeProfile"]["roles"]}
    assert {role["virtualNetworkProfile"]["subnet"] for role in roles.values()} == {resource_id(mocks, SUBNET)}
    assert roles["workernode"]["targetInstanceCount"] == 3  # as Pulumi.azure-spark-dev.yaml asks
    gateway = [r for r in mocks.one("azure-native:network:NetworkSecurityGroup").inputs["securityRules"]
               if r["destinationPortRange"] == "443"]
    assert [r["name"] for r in gateway] == ["hdinsight-management", "hdinsight-gateway-clients"]


@pytest.mark.parametrize(("token", "expected"), [(USER_TOKEN, "User"), (APP_TOKEN, "ServicePrincipal")])
def test_the_upload_role_names_the_deployers_own_principal_type(mocks: AzureMocks, monkeypatch: pytest.MonkeyPatch,
                                                                token: str, expected: str) -> None:
    """A user at a laptop, or a service principal or managed identity in CI: read from the login's access token."""
    monkeypatch.setitem(CALLS, "azure-native:authorization:getClientToken", {"token": token})
    export(load_stack_config("azure-spark-dev", ROOT))
    uploads = [r.inputs for r in mocks.of_type("azure-native:authorization:RoleAssignment")
               if r.inputs["principalId"] == CALLS["azure-native:authorization:getClientConfig"]["objectId"]]
    assert [r["principalType"] for r in uploads] == [expected]


def test_a_premium_ssd_v2_volume_puts_the_head_its_disks_and_the_scale_set_in_one_zone(mocks: AzureMocks) -> None:
    export(load_stack_config("azure-hpc-dev", ROOT))  # a PremiumV2_LRS scratch volume in westeurope, which has zones
    disks = mocks.of_type(DISK)
    assert len(disks) == 1 and disks[0].inputs["zones"] == ["1"]
    assert mocks.one(VM).inputs["zones"] == mocks.one(VMSS).inputs["zones"] == ["1"]
    mocks.resources.clear()
    export(load_spec_file(ROOT / "examples" / "specs" / "azure-hpc.yaml"))  # Premium_LRS attaches to any VM
    assert mocks.of_type(DISK) and all("zones" not in d.inputs for d in mocks.of_type(DISK))
    assert "zones" not in mocks.one(VM).inputs and "zones" not in mocks.one(VMSS).inputs


def test_containers_stack_exports_the_contract(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(load_stack_config("azure-containers-dev", ROOT)))
    assert (outputs.target, outputs.name, outputs.head, outputs.fleet) == ("azure", "azure-containers-dev", None, None)
    service = outputs.containers
    assert service is not None and (service.provider, service.region) == ("azure", "westeurope")
    group = mocks.one(CONTAINER_GROUP)
    assert (service.cluster, service.container) == (group.name, "azure-containers-dev")
    assert service.task_definition == resource_id(mocks, CONTAINER_GROUP)
    subnet_id = f"/subscriptions/0000/resourceGroups/rg/providers/{SUBNET}/azure-containers-dev-containers"
    nsg_id = f"/subscriptions/0000/resourceGroups/rg/providers/{NSG}/azure-containers-dev-containers"
    assert (service.subnets, service.security_groups) == ([subnet_id], [nsg_id])
    assert group.inputs["subnetIds"] == [{"id": subnet_id}]
    assert service.log_group == WORKSPACE_CUSTOMER_ID
    assert outputs.azure is not None and outputs.azure.resource_group == "azure-containers-dev-rg"
    assert (group.inputs["restartPolicy"], group.inputs["location"]) == ("Always", "westeurope")
    assert [f.line() for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)] == []


def test_the_container_subnet_waits_for_the_cluster_subnet(mocks: AzureMocks,
                                                            registrations: dict[str, Any]) -> None:
    """Azure refuses a second subnet operation on a virtual network while one runs."""
    export(load_stack_config("azure-containers-dev", ROOT))
    service = registrations["cloud-hpc-toolkit:azure:ContainerService::azure-containers-dev"]
    assert any(urn.endswith(f"Network${SUBNET}::azure-containers-dev-cluster") for urn in service.dependencies)


def boot_variables(mocks: AzureMocks) -> tuple[dict[str, Any], dict[str, Any]]:
    """The roles' variables in the head's custom data and in the compute nodes' boot its power config holds."""
    head = variables_of(boot_of(parsed(custom_data_text(mocks.one(VM).inputs["osProfile"]["customData"]))))
    return head, variables_of(power_config(mocks).partitions["compute"].boot_script)


def test_the_head_boots_mounting_its_disks_by_lun_and_the_nfs_share_compute_nodes_the_share(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(load_stack_config("azure-hpc-dev", ROOT)))
    head_vars, compute_vars = boot_variables(mocks)
    assert head_vars["storage_volumes"] == [{"name": "scratch", "device": "/dev/disk/azure/scsi1/lun0",
                                             "mount": "/scratch", "fs_type": "ext4"}]
    assert compute_vars["storage_volumes"] == []
    assert outputs.shared is not None
    share = {"kind": "nfs", "source": outputs.shared.source, "mount": "/shared", "options": NFS_OPTIONS}
    for variables in (head_vars, compute_vars):
        assert variables["storage_shared"] == share  # what the outputs export, and `invoke mount` mounts
        assert (variables["storage_owner"], variables["storage_persist"]) == ("azureuser", True)


def test_the_compute_nodes_boot_knowing_they_have_infiniband_and_the_head_accelerated_networking(
        mocks: AzureMocks) -> None:
    """What the mpi role picks Open MPI's network from (UCX over InfiniBand on the compute nodes), as their custom
    data says."""
    outputs = assert_contract(export(load_stack_config("azure-hpc-dev", ROOT)))
    head_vars, compute_vars = boot_variables(mocks)
    assert outputs.compute_machine is not None and outputs.compute_machine.networking == "rdma"
    assert (compute_vars["mpi_cloud"], compute_vars["mpi_networking"]) == ("azure", "rdma")
    assert (head_vars["mpi_cloud"], head_vars["mpi_networking"]) == ("azure", "enhanced")


def test_an_existing_disk_goes_on_the_next_lun_and_the_contract_says_destroy_keeps_it(mocks: AzureMocks) -> None:
    existing = ("/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/archive/providers/"
                "Microsoft.Compute/disks/archive")
    mocks.answers = {"azure-native:compute:getDisk": {"id": existing, "location": "westeurope", "diskSizeGB": 64,
                                                      "tags": {}, "creationData": {"createOption": "Empty"}}}
    env = with_volumes(load_stack_config("azure-hpc-dev", ROOT), [
        {"name": "scratch", "size_gb": 64, "mount": "/scratch"},
        {"name": "archive", "mount": "/archive", "from": {"disk_id": existing}}])
    outputs = assert_contract(export(env))
    archive = outputs.volumes[1]
    assert (archive.device, archive.volume_id, archive.existing, archive.kept) == (
        "/dev/disk/azure/scsi1/lun1", existing, True, True)
    data_disks = mocks.one(VM).inputs["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["managedDisk"]["id"], d["createOption"], d["deleteOption"]) for d in data_disks][1] == (
        1, existing, "Attach", "Detach")  # deleting the head leaves it


def test_the_cluster_subnet_must_hold_the_hdinsight_nodes_too(mocks: AzureMocks) -> None:
    """Head, workers and HDInsight's own ZooKeeper and gateway nodes all take an address of the subnet."""
    def spark_env(workers: int) -> Environment:
        return Environment.model_validate({
            "name": "tight", "target": "azure", "stack": "spark", "region": "westeurope",
            "ssh": {"allowed_cidr": "198.51.100.0/24"}, "network": {"vpc_cidr": "10.9.0.0/24"},
            "spark": {"core": {"count": workers}}})
    with pytest.raises(ValueError, match=r"cluster subnet 10.9.0.0/28 holds 10 nodes, not 11"):
        export(spark_env(4))  # 2 head + 4 workers + 3 ZooKeeper + 2 gateway nodes
    assert assert_contract(export(spark_env(3))).spark is not None
