"""The Azure Slurm cluster component against recording mocks: a head VM and a Flexible scale set per partition in
one proximity placement group; the head's power config (read back as its program reads it) holding each partition's
VM sizes, accelerated networking and InfiniBand image where the size has them, key-only SSH and a compute boot that
holds no secret (the keys in a Key Vault, each node role's identity reading its own secret alone); the head's custom
role, exactly the program's actions on the resource group; and a resource count that does not grow with ``max``."""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.azure.custom_data import LIMIT, encode
from components.azure.head_power import STAGED_CONFIG
from components.azure.power_role import power_actions
from components.azure.slurm_cluster import UBUNTU, UBUNTU_HPC, AzureSlurmCluster, AzureSlurmClusterArgs
from components.boot import azure_power
from components.boot.cloud_config import BOOT_PATH, RUN
from components.boot.config import BUNDLE_DIR
from components.boot.script import NODE_SECRETS
from components.security import SecurityViolation, check_resource
from spec import environment as spec
from spec.machine_types import accelerated_networking, check_vm_networking, vm_sizes
from tests.aws.mocks import FAKE_ED25519, MOCK_MUNGE, MOCK_PRIVATE, USER_KEY
from tests.azure.conftest import HEAD_PUBLIC_IP, AzureMocks
from tests.boot.documents import boot_of, custom_data_text, parsed, variables_of
from tests.pulumi_helpers import plain_strings, secret_value

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
SUBNET_ID = "/subscriptions/0000/resourceGroups/hpc-rg/providers/Microsoft.Network/virtualNetworks/v/subnets/c"
HEAD_PRIVATE_IP = "10.30.0.4"  # the first address Azure hands out in the cluster subnet 10.30.0.0/20
DISK_ID = "/subscriptions/0000/resourceGroups/hpc-rg/providers/Microsoft.Compute/disks/scratch"
SUBSCRIPTION = "00000000-0000-0000-0000-00000000aaaa"  # the mocks' getClientConfig
GROUP_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/hpc-rg"
VM = "azure-native:compute:VirtualMachine"
VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
PPG = "azure-native:compute:ProximityPlacementGroup"
NIC = "azure-native:network:NetworkInterface"
PUBLIC_IP = "azure-native:network:PublicIPAddress"


def mock_id(type_token: str, name: str) -> str:
    return f"/subscriptions/0000/resourceGroups/rg/providers/{type_token}/{name}"


def partition(name: str = "compute", count: int = 2, networking: str = "rdma", size: str = "Standard_HB120rs_v3",
              **extra: Any) -> spec.Partition:
    return spec.Partition(name=name, min=extra.pop("min", count), max=count, instance_type=size,
                          networking=networking, **extra)


def cluster_args(partitions: tuple[spec.Partition, ...] | None = None, head_size: str = "Standard_D4s_v5",
                 **extra: Any) -> AzureSlurmClusterArgs:
    return AzureSlurmClusterArgs(
        cluster_name="hpc", head=spec.Head(instance_type=head_size), partitions=partitions or (partition(),),
        ssh_user="azureuser", ssh_public_key=USER_KEY, resource_group_name="hpc-rg", location="westeurope",
        subnet_id=SUBNET_ID, subnet_prefix="10.30.0.0/20",
        ansible_dir=ANSIBLE, tags={"chpc:environment": "hpc"}, **extra)


def build(*partitions: spec.Partition, **kwargs: Any) -> dict[str, Any]:
    """Declare the cluster; return its outputs, read through apply."""
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        cluster = AzureSlurmCluster("hpc", cluster_args(partitions or None, **kwargs))
        seen["compute_tag"] = cluster.compute_tag
        names = ("head_public_ip", "head_private_ip", "head_host_key", "compute_host_key",
                 "nodes_identity_principal_id", "head_identity_principal_id")
        return pulumi.Output.all(**{name: getattr(cluster, name) for name in names}).apply(seen.update)

    program()
    return seen


def head_document(mocks: AzureMocks) -> dict[str, Any]:
    return parsed(custom_data_text(mocks.one(VM).inputs["osProfile"]["customData"]))


def power_config(mocks: AzureMocks) -> azure_power.Config:
    """The head's power config, as its program reads it from the file the custom data stages."""
    [entry] = [e for e in head_document(mocks)["write_files"] if e["path"] == STAGED_CONFIG]
    assert entry["permissions"] == "0600" and entry["owner"] == "root:root"
    return azure_power.read_config(gzip.decompress(base64.b64decode(entry["content"])).decode())


def test_head_and_every_partitions_scale_set_share_one_proximity_placement_group(mocks: AzureMocks) -> None:
    build(partition("cpu", networking="none", size="Standard_D4s_v5"), partition("ib"))
    ppg_id = mock_id(PPG, mocks.one(PPG).name)
    assert mocks.one(PPG).inputs["proximityPlacementGroupType"] == "Standard"
    assert mocks.one(VM).inputs["proximityPlacementGroup"] == {"id": ppg_id}
    assert [s.inputs["proximityPlacementGroup"] for s in mocks.of_type(VMSS)] == [{"id": ppg_id}] * 2
    config = power_config(mocks)
    assert [p.template["properties"]["proximityPlacementGroup"] for p in config.partitions.values()] == [
        {"id": ppg_id}] * 2


def test_a_zone_places_the_head_the_scale_sets_and_their_vms_in_it(mocks: AzureMocks) -> None:
    build(zone="2")
    assert mocks.one(VM).inputs["zones"] == mocks.one(VMSS).inputs["zones"] == ["2"]
    assert power_config(mocks).partitions["compute"].template["zones"] == ["2"]


def test_without_a_zone_everything_is_regional(mocks: AzureMocks) -> None:
    build()
    assert "zones" not in mocks.one(VM).inputs and "zones" not in mocks.one(VMSS).inputs
    assert "zones" not in power_config(mocks).partitions["compute"].template


def test_each_partition_is_a_flexible_scale_set_without_a_profile_that_its_vms_join(mocks: AzureMocks) -> None:
    outputs = build(partition("cpu", count=100, min=0, networking="none", size="Standard_D4s_v5"),
                    partition("ib", count=8, min=2))
    sets = {s.inputs["vmScaleSetName"]: s.inputs for s in mocks.of_type(VMSS)}
    assert set(sets) == {"hpc-cpu", "hpc-ib"}
    for inputs in sets.values():
        assert (inputs["orchestrationMode"], inputs["platformFaultDomainCount"]) == ("Flexible", 1)
        assert "virtualMachineProfile" not in inputs and "sku" not in inputs  # no capacity: the head adds VMs
        assert inputs["resourceGroupName"] == "hpc-rg" and inputs["location"] == "westeurope"
    assert sets["hpc-cpu"]["tags"] == {"chpc:environment": "hpc", "chpc:partition": "cpu", "chpc:min": "0",
                                       "chpc:max": "100", "chpc:vm-size": "Standard_D4s_v5",
                                       "chpc:os-disk-type": "StandardSSD_LRS", "chpc:os-disk-gb": "64"}
    assert outputs["compute_tag"] == ("chpc:environment", "hpc")
    config = power_config(mocks)
    scale_sets = {s.inputs["vmScaleSetName"]: mock_id(VMSS, s.name) for s in mocks.of_type(VMSS)}
    for name, vms in config.partitions.items():
        assert vms.scale_set_id == scale_sets[f"hpc-{name}"]
        assert vms.template["properties"]["virtualMachineScaleSet"] == {"id": vms.scale_set_id}
        [nic] = vms.template["properties"]["networkProfile"]["networkInterfaceConfigurations"]
        assert nic["properties"]["ipConfigurations"][0]["properties"]["subnet"] == {"id": SUBNET_ID}
        assert nic["properties"]["deleteOption"] == "Delete"
        assert vms.template["properties"]["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    assert (config.environment, config.subscription_id, config.resource_group) == ("hpc", SUBSCRIPTION, "hpc-rg")
    assert (config.bundle_dir, config.fetcher_path, config.boot_path) == (BUNDLE_DIR, NODE_SECRETS, BOOT_PATH)


def test_the_sizes_in_order_spot_and_accelerated_networking_where_the_size_has_it(mocks: AzureMocks) -> None:
    build(partition("cpu", networking="enhanced", size=None, instance_types=["Standard_D16s_v5", "Standard_F72s_v2"],
                    spot=True),
          partition("small", networking="none", size="Standard_A8_v2"))
    config = power_config(mocks)
    assert config.partitions["cpu"].vm_sizes == ("Standard_D16s_v5", "Standard_F72s_v2")
    assert config.partitions["cpu"].accelerated == ("Standard_D16s_v5", "Standard_F72s_v2")
    assert config.partitions["cpu"].spot is True and config.partitions["small"].spot is False
    assert config.partitions["small"].accelerated == ()  # Standard_A8_v2 has none
    assert mocks.one(NIC).inputs["enableAcceleratedNetworking"] is True  # the head's Standard_D4s_v5 has it


def test_sizes_without_accelerated_networking_get_none(mocks: AzureMocks) -> None:
    build(partition(networking="none", size="Standard_A8_v2"), head_size="Standard_B2s")
    assert power_config(mocks).partitions["compute"].accelerated == ()
    assert mocks.one(NIC).inputs["enableAcceleratedNetworking"] is False


@pytest.mark.parametrize(("networking", "size", "expected"), [
    ("rdma", "Standard_HB120rs_v3", UBUNTU_HPC), ("rdma", "Standard_ND96isr_H100_v5", UBUNTU_HPC),
    ("enhanced", "Standard_HB120rs_v3", UBUNTU), ("none", "Standard_D16s_v5", UBUNTU)])
def test_infiniband_nodes_boot_the_hpc_image_the_head_plain_ubuntu(mocks: AzureMocks, networking: str, size: str,
                                                                   expected: dict[str, str]) -> None:
    build(partition(networking=networking, size=size))
    template = power_config(mocks).partitions["compute"].template
    assert template["properties"]["storageProfile"]["imageReference"] == expected
    assert mocks.one(VM).inputs["storageProfile"]["imageReference"] == UBUNTU
    assert UBUNTU_HPC == {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2404", "version": "latest"}


@pytest.mark.parametrize(("networking", "size", "rule"), [
    ("rdma", "Standard_D16s_v5", "azure-rdma-unsupported"),
    ("rdma", "Standard_F72s_v2", "azure-rdma-unsupported"),
    ("enhanced", "Standard_A8_v2", "azure-accelerated-networking-unsupported"),
    ("enhanced", "Standard_B2s", "azure-accelerated-networking-unsupported"),
    ("rdma", "Standard_HB120rs_v9", "unknown-vm-size"),
    ("enhanced", "Standard_Q1", "unknown-vm-size")])
def test_networking_a_size_lacks_is_refused_before_anything_is_declared(mocks: AzureMocks, networking: str,
                                                                        size: str, rule: str) -> None:
    second = partition(networking=networking, size=None, instance_types=["Standard_HB120rs_v3", size])
    for partitions in ((partition(networking=networking, size=size),), (second,)):  # any of its sizes
        with pytest.raises(SecurityViolation, match=rf"\[{rule}\] compute.instance_type: .*{size}"):
            AzureSlurmCluster("hpc", cluster_args(partitions))
    assert mocks.resources == []


def test_unknown_size_without_networking_is_only_a_warning(mocks: AzureMocks) -> None:
    [finding] = check_vm_networking("Standard_Z9_v9", "none")
    assert (finding.rule, finding.severity) == ("unknown-vm-size", "warning")
    build(partition(networking="none", size="Standard_Z9_v9"))
    assert power_config(mocks).partitions["compute"].vm_sizes == ("Standard_Z9_v9",)
    assert accelerated_networking("Standard_Z9_v9") is False


def test_login_is_by_key_only_into_the_users_authorized_keys(mocks: AzureMocks) -> None:
    build()
    head = mocks.one(VM).inputs["osProfile"]
    compute = power_config(mocks).partitions["compute"].template["properties"]["osProfile"]
    assert head["computerName"] == "hpc-head" and "computerName" not in compute  # the program names each VM
    for profile in (head, compute):
        assert profile["adminUsername"] == "azureuser" and "adminPassword" not in profile
        linux = profile["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True
        assert linux["ssh"]["publicKeys"] == [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": USER_KEY}]


def boot_scripts(mocks: AzureMocks, partition_name: str = "compute") -> tuple[str, str]:
    """The head's boot script and a partition's nodes' (from the head's power config)."""
    return boot_of(head_document(mocks)), power_config(mocks).partitions[partition_name].boot_script


def test_no_boot_holds_a_key_and_each_names_its_roles_secret_and_identity(mocks: AzureMocks) -> None:
    outputs = build()
    vault = mocks.one(VAULT).inputs["vaultName"]
    text = custom_data_text(mocks.one(VM).inputs["osProfile"]["customData"])
    assert MOCK_MUNGE not in text and MOCK_PRIVATE not in text and "PRIVATE KEY" not in text
    for role, script in zip(("head", "compute"), boot_scripts(mocks), strict=True):
        assert script.startswith("#!/bin/sh\n") and f"boot the {role} node of cluster hpc" in script
        assert USER_KEY in script and "aws s3 cp" not in script  # the bundle comes with the custom data
        assert (f"azure --vault-url https://{vault}.vault.azure.net --name {role}-boot --client-id client-of-hpc-"
                f"{'head' if role == 'head' else 'nodes'}" in script)
        assert f"sh {BUNDLE_DIR}/boot.sh" in script
        # the head NIC's fixed private address, known to every node
        assert f"head_address={HEAD_PRIVATE_IP}\n" in script and "hostname -I" not in script
        assert MOCK_MUNGE not in script and MOCK_PRIVATE not in script
    assert head_document(mocks)["runcmd"] == [["sh", "-c", RUN]]
    for resource in mocks.resources:
        if resource.type != SECRET:
            for plain in plain_strings(resource.inputs):
                assert MOCK_MUNGE not in plain and MOCK_PRIVATE not in plain, f"{resource.type} {resource.name} leaks"
    public = " ".join(FAKE_ED25519.split()[:2])
    assert outputs["head_host_key"] == outputs["compute_host_key"] == public
    assert (outputs["head_public_ip"], outputs["head_private_ip"]) == (HEAD_PUBLIC_IP, HEAD_PRIVATE_IP)


def test_sshd_serves_no_key_until_the_boot_script_installs_the_pinned_one(mocks: AzureMocks) -> None:
    build()
    document = head_document(mocks)
    assert "ssh_keys" not in document
    assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == []
    for script in boot_scripts(mocks):
        assert f"printf '%s\\n' '{FAKE_ED25519}' > /etc/ssh/ssh_host_ed25519_key.pub" in script


def test_slurm_declares_every_partitions_nodes_and_the_head_powers_them(mocks: AzureMocks) -> None:
    build(partition("cpu", count=100, min=0, networking="none", size="Standard_D4s_v5"),
          partition("ib", count=8, min=2), scaling=spec.Scaling(idle_minutes=5))
    head, compute = (variables_of(script) for script in boot_scripts(mocks, "ib"))
    for variables in (head, compute):  # slurm.conf is the same on every node
        assert variables["compute_nodes"] == [{"name": "cpu-[0-99]", "address": None},
                                              {"name": "ib-[0-7]", "address": None}]
        assert variables["slurm_cloud_nodes"] == ["cpu-[0-99]", "ib-[0-7]"]
        assert variables["slurm_power_up_nodes"] == ["ib-[0-1]"] and variables["slurm_suspend_time"] == 300
    assert head["slurm_resume_command"] == ("/usr/bin/python3 /var/lib/slurm/power/azure_power.py "
                                            "--config /etc/slurm/azure-power.json resume")
    assert {f["dest"] for f in head["slurm_power_files"]} == {
        "/var/lib/slurm/power/azure_power.py", "/var/lib/slurm/power/cloud_files.py",
        "/var/lib/slurm/power/node_secrets.py", "/etc/slurm/azure-power.json"}
    staged = {e["path"]: e for e in head_document(mocks)["write_files"]}
    for copy in head["slurm_power_files"]:
        assert copy["src"] in staged  # every file the role copies is where the custom data writes it
    program = gzip.decompress(base64.b64decode(staged["/run/cloud-hpc-toolkit/power/azure_power.py"]["content"]))
    assert program == Path(azure_power.__file__).read_bytes()
    # the head's slurm user may reach IMDS for the head identity's token (compute nodes: root only)
    head_script, compute_script = boot_scripts(mocks, "ib")
    assert "--uid-owner slurm -j ACCEPT" in head_script and "--uid-owner slurm" not in compute_script


def test_the_key_vault_admits_rbac_and_the_cluster_subnet_only(mocks: AzureMocks) -> None:
    build()
    vault = mocks.one(VAULT).inputs
    assert vault["vaultName"].startswith("kvhpc") and 3 <= len(vault["vaultName"]) <= 24
    properties = vault["properties"]
    assert properties["enableRbacAuthorization"] is True and "accessPolicies" not in properties
    assert properties["tenantId"] == "00000000-0000-0000-0000-00000000bbbb"  # the deployer's tenant
    assert properties["sku"] == {"family": "A", "name": "standard"}
    assert properties["softDeleteRetentionInDays"] == 7 and "enablePurgeProtection" not in properties
    assert properties["networkAcls"] == {"defaultAction": "Deny", "bypass": "None",
                                         "virtualNetworkRules": [{"id": SUBNET_ID}]}


def test_each_roles_secret_is_readable_by_that_roles_identity_alone(mocks: AzureMocks,
                                                                    registrations: dict[str, Any]) -> None:
    build()
    secrets = {secret.inputs["secretName"]: secret for secret in mocks.of_type(SECRET)}
    assert set(secrets) == {"head-boot", "compute-boot"}
    for secret in secrets.values():
        assert secret.inputs["vaultName"] == mocks.one(VAULT).inputs["vaultName"]
        properties = secret_value(secret.inputs["properties"])
        assert properties["contentType"] == "application/json"
        assert json.loads(properties["value"]) == {
            "munge_key": MOCK_MUNGE, "host_key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MOCK_PRIVATE}\n"}
    readers = {reader.inputs["scope"].rsplit("/", 1)[1]: reader.inputs for reader in mocks.of_type(ROLE_ASSIGNMENT)
               if reader.inputs["scope"].endswith("-boot")}
    assert {scope: reader["principalId"] for scope, reader in readers.items()} == {
        "hpc-head-boot": "principal-of-hpc-head", "hpc-compute-boot": "principal-of-hpc-nodes"}
    for reader in readers.values():
        assert reader["principalType"] == "ServicePrincipal"
        assert reader["roleDefinitionId"] == (f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/"
                                              "roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6")
    depends = {urn.rsplit("::", 1)[1] for urn in registrations[f"{VM}::hpc-head"].dependencies}
    assert {"hpc-head-boot", "hpc-compute-boot", "hpc-head-boot-reader", "hpc-compute-boot-reader",
            "hpc-head-power"} <= depends  # the head boots once its secret, its permission and its power role exist


def test_the_head_alone_holds_the_power_role_exactly_the_programs_actions_on_the_group(mocks: AzureMocks) -> None:
    outputs = build()
    definition = mocks.one(ROLE_DEFINITION).inputs
    assert definition["permissions"] == [{"actions": power_actions()}]
    assert definition["scope"] == GROUP_ID and definition["assignableScopes"] == [GROUP_ID]
    assert definition["roleName"] == f"cloud-hpc-toolkit power {GROUP_ID}"
    [power] = [a.inputs for a in mocks.of_type(ROLE_ASSIGNMENT) if a.inputs["scope"] == GROUP_ID]
    assert power["principalId"] == outputs["head_identity_principal_id"] == "principal-of-hpc-head"
    assert power["principalType"] == "ServicePrincipal"
    assert power["roleDefinitionId"] == mock_id(ROLE_DEFINITION, mocks.one(ROLE_DEFINITION).name)
    assert not any("*" in action for action in power_actions())
    nodes = [a.inputs["scope"] for a in mocks.of_type(ROLE_ASSIGNMENT)
             if a.inputs["principalId"] == "principal-of-hpc-nodes"]
    assert nodes == [mock_id(SECRET, "hpc-compute-boot")]  # the compute nodes read their secret, and nothing more


def test_each_node_role_carries_its_own_identity(mocks: AzureMocks) -> None:
    outputs = build()
    identities = {i.name: mock_id(IDENTITY, i.name) for i in mocks.of_type(IDENTITY)}
    assert set(identities) == {"hpc-head", "hpc-nodes"}
    assert mocks.one(VM).inputs["identity"] == {"type": "UserAssigned",
                                                "userAssignedIdentities": [identities["hpc-head"]]}
    template = power_config(mocks).partitions["compute"].template
    assert template["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {identities["hpc-nodes"]: {}}}
    assert power_config(mocks).client_id == "client-of-hpc-head"  # the program's token is the head's
    assert outputs["nodes_identity_principal_id"] == "principal-of-hpc-nodes"


def test_custom_data_carries_the_ansible_folder_byte_for_byte_gzipped_within_azures_limit(mocks: AzureMocks) -> None:
    build()
    document = head_document(mocks)
    written = {entry["path"]: entry for entry in document["write_files"] if entry["path"].startswith(BUNDLE_DIR)}
    expected = {f"{BUNDLE_DIR}/{p.relative_to(ANSIBLE).as_posix()}": p for p in ANSIBLE.rglob("*") if p.is_file()}
    assert set(written) == set(expected) and len(expected) > 5
    for path, source in expected.items():
        entry = written[path]
        assert entry["encoding"] == "gz+b64" and entry["owner"] == "root:root"
        assert gzip.decompress(base64.b64decode(entry["content"])) == source.read_bytes()
        assert entry["permissions"] == ("0755" if source.stat().st_mode & 0o100 else "0644")
    packed = base64.b64decode(mocks.one(VM).inputs["osProfile"]["customData"])
    assert packed[:2] == b"\x1f\x8b" and len(packed) < LIMIT  # gzipped whole, as cloud-init reads it


def test_custom_data_past_azures_limit_is_refused() -> None:
    assert gzip.decompress(base64.b64decode(encode("x" * LIMIT * 4))) == b"x" * LIMIT * 4  # compressible: fits
    noise = base64.b64encode(os.urandom(LIMIT)).decode()  # 87 KB that gzip cannot bring under 64 KB
    with pytest.raises(ValueError, match=r"custom data of \d+ bytes gzipped exceeds Azure's 65535"):
        encode(noise)


def test_head_has_a_static_public_address_and_attaches_the_storage_disks(mocks: AzureMocks,
                                                                         registrations: dict[str, Any]) -> None:
    build(head_data_disks=[(0, DISK_ID), (3, DISK_ID + "2")])
    address = mocks.one(PUBLIC_IP).inputs
    assert (address["sku"], address["publicIPAllocationMethod"]) == ({"name": "Standard"}, "Static")
    [config] = mocks.one(NIC).inputs["ipConfigurations"]
    assert config["subnet"]["id"] == SUBNET_ID and config["publicIPAddress"]["id"].endswith("/hpc-head-ip")
    assert (config["privateIPAllocationMethod"], config["privateIPAddress"]) == ("Static", HEAD_PRIVATE_IP)
    storage = mocks.one(VM).inputs["storageProfile"]
    attach = {"createOption": "Attach", "caching": "None", "deleteOption": "Detach"}
    assert storage["dataDisks"] == [{"lun": 0, **attach, "managedDisk": {"id": DISK_ID}},
                                    {"lun": 3, **attach, "managedDisk": {"id": DISK_ID + "2"}}]
    assert storage["osDisk"]["deleteOption"] == "Delete"
    assert list(registrations[f"{VM}::hpc-head"].ignoreChanges) == ["osProfile.customData"]


@pytest.mark.parametrize("networking", ["rdma", "none"])
def test_every_resource_passes_the_security_rules(mocks: AzureMocks, networking: str) -> None:
    build(partition(networking=networking))
    assert {r.type for r in mocks.resources} >= {VM, VMSS, NIC, PPG, ROLE_DEFINITION}
    assert [f.line() for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)] == []


def test_keys_resources_and_custom_data_do_not_grow_with_max(mocks: AzureMocks) -> None:
    build(partition(count=2, min=0))
    small, small_data = Counter(r.type for r in mocks.resources), mocks.one(VM).inputs["osProfile"]["customData"]
    mocks.resources.clear()
    build(partition(count=1000, min=0))
    large, large_data = Counter(r.type for r in mocks.resources), mocks.one(VM).inputs["osProfile"]["customData"]
    assert small == large and abs(len(small_data) - len(large_data)) < 16  # "compute-[0-1]" / "compute-[0-999]"
    assert large["tls:index/privateKey:PrivateKey"] == 2  # head host key, one compute host key
    assert large["random:index/randomBytes:RandomBytes"] == 1  # the munge key
    assert (large[VM], large[VMSS]) == (1, 1)


def test_the_size_table_is_dated_sourced_and_consistent() -> None:
    source = json.loads((Path(__file__).resolve().parents[2] / "spec/vm_sizes.json").read_text())
    assert source["_source"]["taken"] and "MicrosoftDocs/azure-docs" in source["_source"]["source"]
    sizes = vm_sizes()
    assert len(sizes) > 90
    for name, caps in sizes.items():
        assert name.startswith("Standard_") and caps["accelerated_networking"] in ("required", "supported",
                                                                                    "unsupported")
        assert caps["series"] in source["_source"]["pages"], name
    rdma = {name for name, caps in sizes.items() if caps["rdma"]}
    assert {"Standard_HB120rs_v3", "Standard_HB176rs_v4", "Standard_HC44rs", "Standard_ND96isr_H100_v5"} <= rdma
    assert all(name[len("Standard_"):].startswith(("HB", "HC", "HX", "ND")) for name in rdma)
