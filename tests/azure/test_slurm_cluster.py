"""The Azure Slurm cluster component against recording mocks: head VM and compute scale set in one
proximity placement group, accelerated networking and InfiniBand only where the size has them, key-only
SSH, the ansible bundle and boot script in custom data that holds no secret (the keys in a Key Vault the nodes'
identity alone may read, secret by secret), and a resource count that does not grow with the node count."""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.azure.custom_data import LIMIT, encode
from components.azure.slurm_cluster import UBUNTU, UBUNTU_HPC, AzureSlurmCluster, AzureSlurmClusterArgs
from components.boot.cloud_config import BOOT_PATH, RUN
from components.boot.config import BUNDLE_DIR
from components.boot.script import NODE_SECRETS
from components.fleet import FLEET_TAG_KEY
from components.security import SecurityViolation, check_resource
from spec import environment as spec
from spec.machine_types import accelerated_networking, check_vm_networking, vm_sizes
from tests.aws.mocks import FAKE_ED25519, MOCK_MUNGE, MOCK_PRIVATE, USER_KEY
from tests.azure.conftest import HEAD_PUBLIC_IP, AzureMocks
from tests.boot.documents import boot_of, parsed
from tests.pulumi_helpers import plain_strings, secret_value

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
SUBNET_ID = "/subscriptions/0000/resourceGroups/hpc-rg/providers/Microsoft.Network/virtualNetworks/v/subnets/c"
HEAD_PRIVATE_IP = "10.30.0.4"  # the first address Azure hands out in the cluster subnet 10.30.0.0/20
DISK_ID = "/subscriptions/0000/resourceGroups/hpc-rg/providers/Microsoft.Compute/disks/scratch"
VM = "azure-native:compute:VirtualMachine"
VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
PPG = "azure-native:compute:ProximityPlacementGroup"
NIC = "azure-native:network:NetworkInterface"
PUBLIC_IP = "azure-native:network:PublicIPAddress"


def cluster_args(count: int = 2, networking: str = "rdma", size: str = "Standard_HB120rs_v3",
                 head_size: str = "Standard_D4s_v5", **extra: Any) -> AzureSlurmClusterArgs:
    return AzureSlurmClusterArgs(
        cluster_name="hpc", head=spec.Head(instance_type=head_size),
        compute=spec.Partition(name="compute", min=count, max=count, instance_type=size, networking=networking),
        ssh_user="azureuser", ssh_public_key=USER_KEY, resource_group_name="hpc-rg", location="westeurope",
        subnet_id=SUBNET_ID, subnet_prefix="10.30.0.0/20",
        ansible_dir=ANSIBLE, tags={"chpc:environment": "hpc"}, **extra)


def build(**kwargs: Any) -> dict[str, Any]:
    """Declare the cluster; return its outputs, read through apply."""
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        cluster = AzureSlurmCluster("hpc", cluster_args(**kwargs))
        seen["compute_tag"] = cluster.compute_tag
        names = ("head_public_ip", "head_private_ip", "head_host_key", "compute_host_key", "compute_group_name",
                 "nodes_identity_principal_id")
        return pulumi.Output.all(**{name: getattr(cluster, name) for name in names}).apply(seen.update)

    program()
    return seen


def vm_profile(mocks: AzureMocks) -> dict[str, Any]:
    return mocks.one(VMSS).inputs["virtualMachineProfile"]


def cloud_config(custom_data: str) -> dict[str, Any]:
    return parsed(base64.b64decode(custom_data).decode())


def test_head_and_scale_set_share_one_proximity_placement_group(mocks: AzureMocks) -> None:
    build()
    ppg = mocks.one(PPG)
    ppg_id = f"/subscriptions/0000/resourceGroups/rg/providers/{PPG}/{ppg.name}"
    assert ppg.inputs["proximityPlacementGroupType"] == "Standard"
    assert mocks.one(VM).inputs["proximityPlacementGroup"] == {"id": ppg_id}
    assert mocks.one(VMSS).inputs["proximityPlacementGroup"] == {"id": ppg_id}


def test_a_zone_places_the_head_and_the_scale_set_in_it(mocks: AzureMocks) -> None:
    build(zone="2")
    assert mocks.one(VM).inputs["zones"] == mocks.one(VMSS).inputs["zones"] == ["2"]


def test_without_a_zone_head_and_scale_set_are_regional(mocks: AzureMocks) -> None:
    build()
    assert "zones" not in mocks.one(VM).inputs and "zones" not in mocks.one(VMSS).inputs


def test_scale_set_is_uniform_single_placement_one_fault_domain_no_overprovision(mocks: AzureMocks) -> None:
    outputs = build(count=7)
    vmss = mocks.one(VMSS).inputs
    assert vmss["orchestrationMode"] == "Uniform"
    assert (vmss["platformFaultDomainCount"], vmss["singlePlacementGroup"], vmss["overprovision"]) == (1, True, False)
    assert vmss["sku"] == {"name": "Standard_HB120rs_v3", "tier": "Standard", "capacity": 7}
    assert vmss["upgradePolicy"] == {"mode": "Manual"}
    assert vmss["tags"] == {"chpc:environment": "hpc", FLEET_TAG_KEY: "hpc"}
    assert outputs["compute_tag"] == (FLEET_TAG_KEY, "hpc") and outputs["compute_group_name"] == "hpc-compute"
    [config] = vm_profile(mocks)["networkProfile"]["networkInterfaceConfigurations"]
    assert config["primary"] is True and config["ipConfigurations"][0]["subnet"] == {"id": SUBNET_ID}


@pytest.mark.parametrize(("networking", "size"), [("enhanced", "Standard_D16s_v5"), ("rdma", "Standard_HB120rs_v3"),
                                                  ("enhanced", "Standard_F72s_v2")])
def test_accelerated_networking_on_every_nic_configuration(mocks: AzureMocks, networking: str, size: str) -> None:
    build(networking=networking, size=size)
    configs = vm_profile(mocks)["networkProfile"]["networkInterfaceConfigurations"]
    assert configs and all(config["enableAcceleratedNetworking"] is True for config in configs)
    assert mocks.one(NIC).inputs["enableAcceleratedNetworking"] is True  # the head's Standard_D4s_v5 has it


def test_sizes_without_accelerated_networking_get_none(mocks: AzureMocks) -> None:
    build(networking="none", size="Standard_A8_v2", head_size="Standard_B2s")
    [config] = vm_profile(mocks)["networkProfile"]["networkInterfaceConfigurations"]
    assert config["enableAcceleratedNetworking"] is False
    assert mocks.one(NIC).inputs["enableAcceleratedNetworking"] is False


@pytest.mark.parametrize(("networking", "size", "expected"), [
    ("rdma", "Standard_HB120rs_v3", UBUNTU_HPC), ("rdma", "Standard_ND96isr_H100_v5", UBUNTU_HPC),
    ("enhanced", "Standard_HB120rs_v3", UBUNTU), ("none", "Standard_D16s_v5", UBUNTU)])
def test_infiniband_nodes_boot_the_hpc_image_the_head_plain_ubuntu(mocks: AzureMocks, networking: str, size: str,
                                                                   expected: dict[str, str]) -> None:
    build(networking=networking, size=size)
    assert vm_profile(mocks)["storageProfile"]["imageReference"] == expected
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
    with pytest.raises(SecurityViolation, match=rf"\[{rule}\] compute.instance_type: .*{size}"):
        AzureSlurmCluster("hpc", cluster_args(networking=networking, size=size))
    assert mocks.resources == []


def test_unknown_size_without_networking_is_only_a_warning(mocks: AzureMocks) -> None:
    [finding] = check_vm_networking("Standard_Z9_v9", "none")
    assert (finding.rule, finding.severity) == ("unknown-vm-size", "warning")
    build(networking="none", size="Standard_Z9_v9")
    assert mocks.one(VMSS).inputs["sku"]["name"] == "Standard_Z9_v9"
    assert accelerated_networking("Standard_Z9_v9") is False


def test_login_is_by_key_only_into_the_users_authorized_keys(mocks: AzureMocks) -> None:
    build()
    head = mocks.one(VM).inputs["osProfile"]
    compute = vm_profile(mocks)["osProfile"]
    assert head["computerName"] == "hpc-head" and compute["computerNamePrefix"] == "hpc-c"
    for profile in (head, compute):
        assert profile["adminUsername"] == "azureuser" and "adminPassword" not in profile
        linux = profile["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True
        assert linux["ssh"]["publicKeys"] == [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": USER_KEY}]


def custom_data(mocks: AzureMocks) -> tuple[str, str]:
    """The head's and the scale set's custom data as cloud-init reads them (plain: they hold no secret)."""
    return (base64.b64decode(mocks.one(VM).inputs["osProfile"]["customData"]).decode(),
            base64.b64decode(vm_profile(mocks)["osProfile"]["customData"]).decode())


def test_custom_data_holds_no_key_and_names_its_roles_secret(mocks: AzureMocks) -> None:
    outputs = build()
    vault = mocks.one(VAULT).inputs["vaultName"]
    for role, text in zip(("head", "compute"), custom_data(mocks), strict=True):
        document = parsed(text)
        script = boot_of(document)
        assert script.startswith("#!/bin/sh\n") and f"boot the {role} node of cluster hpc" in script
        assert MOCK_MUNGE not in text and MOCK_PRIVATE not in text and "PRIVATE KEY" not in text
        assert USER_KEY in script and "aws s3 cp" not in script  # the bundle comes with the custom data
        assert (f"azure --vault-url https://{vault}.vault.azure.net --name {role}-boot --client-id client-of-hpc-nodes"
                in script)
        assert f"sh {BUNDLE_DIR}/boot.sh" in script and document["runcmd"] == [["sh", "-c", RUN]]
        # the head NIC's fixed private address, known to every node
        assert f"head_address={HEAD_PRIVATE_IP}\n" in script and "hostname -I" not in script
    for resource in mocks.resources:
        if resource.type != SECRET:
            for text in plain_strings(resource.inputs):
                assert MOCK_MUNGE not in text and MOCK_PRIVATE not in text, f"{resource.type} {resource.name} leaks"
    public = " ".join(FAKE_ED25519.split()[:2])
    assert outputs["head_host_key"] == outputs["compute_host_key"] == public
    assert (outputs["head_public_ip"], outputs["head_private_ip"]) == (HEAD_PUBLIC_IP, HEAD_PRIVATE_IP)


def test_sshd_serves_no_key_until_the_boot_script_installs_the_pinned_one(mocks: AzureMocks) -> None:
    outputs = build()
    for text, pinned in zip(custom_data(mocks), (outputs["head_host_key"], outputs["compute_host_key"]), strict=True):
        document = parsed(text)
        assert "ssh_keys" not in document
        assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == []
        assert f"printf '%s\\n' '{FAKE_ED25519}' > /etc/ssh/ssh_host_ed25519_key.pub" in boot_of(document)
        assert " ".join(FAKE_ED25519.split()[:2]) == pinned


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


def test_each_roles_secret_is_readable_by_the_nodes_identity_alone(mocks: AzureMocks, registrations: dict[str, Any],
                                                                   ) -> None:
    build()
    secrets = {secret.inputs["secretName"]: secret for secret in mocks.of_type(SECRET)}
    assert set(secrets) == {"head-boot", "compute-boot"}
    for secret in secrets.values():
        assert secret.inputs["vaultName"] == mocks.one(VAULT).inputs["vaultName"]
        properties = secret_value(secret.inputs["properties"])
        assert properties["contentType"] == "application/json"
        assert json.loads(properties["value"]) == {
            "munge_key": MOCK_MUNGE, "host_key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MOCK_PRIVATE}\n"}
    readers = mocks.of_type(ROLE_ASSIGNMENT)
    assert sorted(reader.inputs["scope"] for reader in readers) == sorted(
        f"/subscriptions/0000/resourceGroups/rg/providers/{SECRET}/hpc-{role}-boot" for role in ("head", "compute"))
    for reader in readers:
        assert reader.inputs["principalId"] == "principal-of-hpc-nodes"
        assert reader.inputs["principalType"] == "ServicePrincipal"
        assert reader.inputs["roleDefinitionId"] == ("/subscriptions/00000000-0000-0000-0000-00000000aaaa/providers/"
                                                     "Microsoft.Authorization/roleDefinitions/"
                                                     "4633458b-17de-408a-b874-0445c86b69e6")  # Key Vault Secrets User
    for started in (f"{VM}::hpc-head", f"{VMSS}::hpc-compute"):  # the boot finds its secret and its permission
        depends = {urn.rsplit("::", 1)[1] for urn in registrations[started].dependencies}
        assert {"hpc-head-boot", "hpc-compute-boot", "hpc-head-boot-reader", "hpc-compute-boot-reader"} <= depends


def test_custom_data_carries_the_ansible_folder_byte_for_byte(mocks: AzureMocks) -> None:
    build()
    document = cloud_config(vm_profile(mocks)["osProfile"]["customData"])
    written = {entry["path"]: entry for entry in document["write_files"] if entry["path"] not in (BOOT_PATH,
                                                                                                   NODE_SECRETS)}
    expected = {f"{BUNDLE_DIR}/{p.relative_to(ANSIBLE).as_posix()}": p for p in ANSIBLE.rglob("*") if p.is_file()}
    assert set(written) == set(expected) and len(expected) > 5
    for path, source in expected.items():
        entry = written[path]
        assert entry["encoding"] == "gz+b64" and entry["owner"] == "root:root"
        assert gzip.decompress(base64.b64decode(entry["content"])) == source.read_bytes()
        assert entry["permissions"] == ("0755" if source.stat().st_mode & 0o100 else "0644")
    assert len(base64.b64decode(vm_profile(mocks)["osProfile"]["customData"])) < LIMIT


def test_custom_data_past_azures_limit_is_refused() -> None:
    assert base64.b64decode(encode("x" * LIMIT)) == b"x" * LIMIT
    with pytest.raises(ValueError, match=f"custom data of {LIMIT + 1} bytes exceeds Azure's {LIMIT}"):
        encode("x" * (LIMIT + 1))


def test_head_has_a_static_public_address_and_attaches_the_storage_disks(mocks: AzureMocks,
                                                                         registrations: dict[str, Any]) -> None:
    build(head_data_disks=[(0, DISK_ID), (3, DISK_ID + "2")])
    address = mocks.one(PUBLIC_IP).inputs
    assert (address["sku"], address["publicIPAllocationMethod"]) == ({"name": "Standard"}, "Static")
    [config] = mocks.one(NIC).inputs["ipConfigurations"]
    assert config["subnet"]["id"] == SUBNET_ID and config["publicIPAddress"]["id"].endswith("/hpc-head-ip")
    assert (config["privateIPAllocationMethod"], config["privateIPAddress"]) == ("Static", HEAD_PRIVATE_IP)
    # Azure hands out addresses from .4 up: the scale set waits for the head's NIC to hold its own.
    nic_urn = f"urn:pulumi:test::cloud-hpc-toolkit::cloud-hpc-toolkit:azure:SlurmCluster${NIC}::hpc-head"
    assert nic_urn in registrations[f"{VMSS}::hpc-compute"].dependencies
    storage = mocks.one(VM).inputs["storageProfile"]
    attach = {"createOption": "Attach", "caching": "None", "deleteOption": "Detach"}
    assert storage["dataDisks"] == [{"lun": 0, **attach, "managedDisk": {"id": DISK_ID}},
                                    {"lun": 3, **attach, "managedDisk": {"id": DISK_ID + "2"}}]
    assert storage["osDisk"]["deleteOption"] == "Delete"
    assert list(registrations[f"{VM}::hpc-head"].ignoreChanges) == ["osProfile.customData"]


@pytest.mark.parametrize("networking", ["rdma", "none"])
def test_every_resource_passes_the_security_rules(mocks: AzureMocks, networking: str) -> None:
    build(networking=networking)
    assert {r.type for r in mocks.resources} >= {VM, VMSS, NIC, PPG}
    assert [f.line() for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)] == []


def test_every_node_carries_one_identity_that_holds_only_its_boot_secrets(mocks: AzureMocks) -> None:
    """The nodes call one Azure API, Key Vault's, for their boot secrets; otherwise their identity is there for the
    user to grant a data role to."""
    outputs = build()
    [identity] = mocks.of_type("azure-native:managedidentity:UserAssignedIdentity")
    assert (identity.inputs["location"], identity.inputs["resourceGroupName"]) == ("westeurope", "hpc-rg")
    identity_id = f"/subscriptions/0000/resourceGroups/rg/providers/{identity.type}/{identity.name}"
    for node in (mocks.one(VM), mocks.one(VMSS)):
        assert node.inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity_id]}
    assert outputs["nodes_identity_principal_id"]
    scopes = {reader.inputs["scope"].rsplit("/", 1)[1] for reader in mocks.of_type(ROLE_ASSIGNMENT)}
    assert scopes == {"hpc-head-boot", "hpc-compute-boot"}


def test_keys_and_resources_do_not_grow_with_the_node_count(mocks: AzureMocks) -> None:
    build(count=2)
    small = Counter(r.type for r in mocks.resources)
    mocks.resources.clear()
    build(count=1000)
    large = Counter(r.type for r in mocks.resources)
    assert small == large
    assert large["tls:index/privateKey:PrivateKey"] == 2  # head host key, one compute fleet host key
    assert large["random:index/randomBytes:RandomBytes"] == 1  # the munge key
    assert (large[VM], large[VMSS]) == (1, 1) and mocks.one(VMSS).inputs["sku"]["capacity"] == 1000


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
