"""The Azure storage component against recording mocks: managed disks encrypted at rest and closed to
export, kept on destroy when retained, one LUN (and device path) each; the Azure Files NFS share in a
premium FileStorage account reachable from the cluster subnet only."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pulumi
import pytest

from components.azure.storage import AzureStorage, AzureStorageArgs, account_name
from components.security import SecurityViolation, check_resource
from spec import environment as spec
from tests.azure.conftest import AzureMocks
from tests.pulumi_helpers import retained

DISK = "azure-native:compute:Disk"
ACCOUNT = "azure-native:storage:StorageAccount"
SHARE = "azure-native:storage:FileShare"
GROUP = "azure-native:resources:ResourceGroup"
SUBNET_ID = "/subscriptions/0000/resourceGroups/hpc-rg/providers/Microsoft.Network/virtualNetworks/v/subnets/c"
TAGS = {"chpc:environment": "hpc"}
ACCOUNT_NAME = "hpc" + hashlib.sha256(b"hpc-rg").hexdigest()[:8]
FILES = spec.Shared(kind="files", mount="/shared")


def volume(name: str = "scratch", **fields: Any) -> spec.Volume:
    return spec.Volume(name=name, size_gb=fields.pop("size_gb", 512), mount=fields.pop("mount", f"/{name}"),
                       type=fields.pop("type", "Premium_LRS"), **fields)


def build(volumes: list[spec.Volume], shared: spec.Shared | None = FILES) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        storage = AzureStorage("hpc", AzureStorageArgs(
            storage=spec.Storage(volumes=volumes, shared=shared), resource_group_name="hpc-rg",
            location="westeurope", subnet_id=SUBNET_ID, tags=TAGS))
        seen.update(luns=storage.luns, devices=storage.devices)
        outputs = {"disk_ids": storage.disk_ids, "data_disks": storage.data_disks,
                   "share_source": storage.share_source, "account_name": storage.account_name}
        return pulumi.Output.from_input(outputs).apply(seen.update)

    program()
    return seen


def disk(mocks: AzureMocks, name: str) -> dict[str, Any]:
    [found] = [r for r in mocks.of_type(DISK) if r.name == f"hpc-{name}"]
    return found.inputs


def test_disks_are_empty_encrypted_closed_to_export_and_tagged(mocks: AzureMocks) -> None:
    build([volume("scratch"), volume("data", type="StandardSSD_LRS", size_gb=64)], shared=None)
    scratch = disk(mocks, "scratch")
    assert (scratch["sku"], scratch["diskSizeGB"]) == ({"name": "Premium_LRS"}, 512)
    assert disk(mocks, "data")["sku"] == {"name": "StandardSSD_LRS"}
    for inputs in (scratch, disk(mocks, "data")):
        assert inputs["creationData"] == {"createOption": "Empty"}
        assert inputs["encryption"] == {"type": "EncryptionAtRestWithPlatformKey"}
        assert (inputs["networkAccessPolicy"], inputs["publicNetworkAccess"]) == ("DenyAll", "Disabled")
        assert (inputs["location"], inputs["resourceGroupName"]) == ("westeurope", "hpc-rg")
        assert "diskIOPSReadWrite" not in inputs and "diskMBpsReadWrite" not in inputs
    assert scratch["tags"] == {**TAGS, "chpc:volume": "scratch"}


def test_each_volume_gets_a_lun_a_device_path_and_its_disk_id(mocks: AzureMocks) -> None:
    outputs = build([volume("scratch"), volume("data")], shared=None)
    assert outputs["luns"] == {"scratch": 0, "data": 1}
    assert outputs["devices"] == {"scratch": "/dev/disk/azure/scsi1/lun0", "data": "/dev/disk/azure/scsi1/lun1"}
    ids = outputs["disk_ids"]
    assert ids["scratch"].endswith(f"{DISK}/hpc-scratch") and ids["data"].endswith(f"{DISK}/hpc-data")
    assert outputs["data_disks"] == [(0, ids["scratch"]), (1, ids["data"])]


def test_premium_v2_takes_the_provisioned_iops_and_throughput(mocks: AzureMocks) -> None:
    build([volume("fast", type="PremiumV2_LRS", iops=8000, throughput=300)], shared=None)
    fast = disk(mocks, "fast")
    assert (fast["sku"], fast["diskIOPSReadWrite"], fast["diskMBpsReadWrite"]) == ({"name": "PremiumV2_LRS"}, 8000,
                                                                                   300)


@pytest.mark.parametrize("field", ["iops", "throughput"])
def test_performance_settings_other_types_ignore_are_refused(mocks: AzureMocks, field: str) -> None:
    with pytest.raises(ValueError, match=rf"storage.volumes\[0\].{field}: type Premium_LRS takes no {field}"):
        build([volume("scratch", **{field: 100})], shared=None)
    assert mocks.resources == []


def test_unencrypted_volumes_are_refused_as_azure_cannot_honour_them(mocks: AzureMocks) -> None:
    with pytest.raises(SecurityViolation, match=r"\[storage-unencrypted\] storage.volumes\[1\]: volume plain"):
        build([volume("scratch"), volume("plain", encrypted=False)], shared=None)
    assert mocks.resources == []


def test_only_retained_disks_are_kept_on_delete(mocks: AzureMocks, registrations: dict[str, Any]) -> None:
    build([volume("keep", retain=True), volume("scratch")], shared=None)
    keep, scratch = registrations[f"{DISK}::hpc-keep"], registrations[f"{DISK}::hpc-scratch"]
    assert retained(keep) is True and retained(scratch) is False


def test_retained_disks_live_in_a_kept_group_of_their_own(mocks: AzureMocks, registrations: dict[str, Any]) -> None:
    """Deleting the environment's group would take a retained disk in it along: it must sit elsewhere."""
    build([volume("keep", retain=True), volume("scratch")], shared=None)
    group = mocks.one(GROUP)
    assert retained(registrations[f"{GROUP}::hpc-data"]) is True
    assert (group.inputs["location"], group.inputs["tags"]) == ("westeurope", {**TAGS, "chpc:retained": "true"})
    assert disk(mocks, "keep")["resourceGroupName"] == group.inputs["resourceGroupName"] != "hpc-rg"
    assert disk(mocks, "scratch")["resourceGroupName"] == "hpc-rg"


SUB = "/subscriptions/00000000-0000-0000-0000-00000000aaaa"
GET_GROUP, GET_DISK = "azure-native:resources:getResourceGroup", "azure-native:compute:getDisk"
KEPT_GROUP = f"{SUB}/resourceGroups/hpc-retained-westeurope"
KEPT_DISK = f"{KEPT_GROUP}/providers/Microsoft.Compute/disks/hpc-keep"
OTHER_DISK = f"{SUB}/resourceGroups/data-rg/providers/Microsoft.Compute/disks/archive"


def found_disk(disk_id: str, size: int = 512, location: str = "westeurope", tags: dict[str, str] | None = None,
               **creation: str) -> dict[str, Any]:
    """The getDisk answer, in the SDK's shape (ARM's properties flattened, camelCase)."""
    return {"id": disk_id, "name": disk_id.rsplit("/", 1)[1], "location": location, "diskSizeGB": size,
            "tags": {**TAGS, "chpc:volume": "keep"} if tags is None else tags,
            "creationData": {"createOption": "Empty", **creation}}


def test_a_retained_disk_has_known_names_so_the_next_up_finds_it(mocks: AzureMocks,
                                                                registrations: dict[str, Any]) -> None:
    build([volume("keep", retain=True)], shared=None)
    assert mocks.one(GROUP).inputs["resourceGroupName"] == "hpc-retained-westeurope"
    keep = disk(mocks, "keep")
    assert (keep["diskName"], keep["resourceGroupName"]) == ("hpc-keep", "hpc-retained-westeurope")
    # nothing kept yet: the group was looked for, and without it no disk was
    assert [token for token, _ in mocks.calls] == [GET_GROUP]
    assert registrations[f"{GROUP}::hpc-data"].importId == registrations[f"{DISK}::hpc-keep"].importId == ""


def test_a_kept_group_and_disk_are_adopted_again_as_they_were_made(mocks: AzureMocks,
                                                                  registrations: dict[str, Any]) -> None:
    snapshot = f"{SUB}/resourceGroups/x/providers/Microsoft.Compute/snapshots/s"
    mocks.answers = {GET_GROUP: {"id": KEPT_GROUP, "name": "hpc-retained-westeurope", "location": "westeurope"},
                     GET_DISK: found_disk(KEPT_DISK, size=512, sourceResourceId=snapshot, createOption="Copy")}
    outputs = build([volume("keep", retain=True, size_gb=1024)], shared=None)
    assert registrations[f"{GROUP}::hpc-data"].importId == KEPT_GROUP
    assert registrations[f"{DISK}::hpc-keep"].importId == KEPT_DISK and retained(registrations[f"{DISK}::hpc-keep"])
    keep = disk(mocks, "keep")
    # made as it was (Azure cannot change that), grown to the spec's size after the import
    assert keep["creationData"] == {"createOption": "Copy", "sourceResourceId": snapshot}
    assert keep["diskSizeGB"] == 1024
    assert mocks.calls[1] == (GET_DISK, {"resourceGroupName": "hpc-retained-westeurope", "diskName": "hpc-keep"})
    assert outputs["data_disks"] == [(0, outputs["disk_ids"]["keep"])]


def test_a_kept_group_without_the_disk_gets_a_new_one(mocks: AzureMocks, registrations: dict[str, Any]) -> None:
    mocks.answers = {GET_GROUP: {"id": KEPT_GROUP, "name": "hpc-retained-westeurope", "location": "westeurope"}}
    build([volume("keep", retain=True), volume("new", retain=True)], shared=None)
    assert registrations[f"{GROUP}::hpc-data"].importId == KEPT_GROUP
    assert registrations[f"{DISK}::hpc-keep"].importId == registrations[f"{DISK}::hpc-new"].importId == ""
    assert [token for token, _ in mocks.calls] == [GET_GROUP, GET_DISK, GET_DISK]


@pytest.mark.parametrize(("answer", "message"), [
    (found_disk(KEPT_DISK, size=2048), r"storage.volumes\[0\].size_gb = 512: the retained volume .*/disks/hpc-keep "
                                       "has 2048 GB and cannot shrink; give 2048 or more"),
    (found_disk(KEPT_DISK, tags={"chpc:environment": "other", "chpc:volume": "keep"}),
     r"storage.volumes\[0\]: disk .*/disks/hpc-keep in the kept group does not carry the tags "
     "chpc:environment=hpc, chpc:volume=keep: it is not this environment's retained disk; move or rename it"),
])
def test_a_kept_disk_that_cannot_come_back_as_asked_is_refused(mocks: AzureMocks, answer: dict[str, Any],
                                                              message: str) -> None:
    mocks.answers = {GET_GROUP: {"id": KEPT_GROUP, "location": "westeurope"}, GET_DISK: answer}
    with pytest.raises(ValueError, match=message):
        build([volume("keep", retain=True)], shared=None)
    assert mocks.of_type(DISK) == []


def test_an_existing_disk_is_attached_by_id_and_never_declared(mocks: AzureMocks) -> None:
    mocks.answers = {GET_DISK: found_disk(OTHER_DISK, tags={})}
    outputs = build([volume("archive", size_gb=None, type=None, from_=spec.VolumeSource(disk_id=OTHER_DISK)),
                     volume("scratch")], shared=None)
    assert [r.name for r in mocks.of_type(DISK)] == ["hpc-scratch"] and mocks.of_type(GROUP) == []
    assert outputs["disk_ids"]["archive"] == OTHER_DISK
    assert outputs["data_disks"] == [(0, OTHER_DISK), (1, outputs["disk_ids"]["scratch"])]
    assert mocks.calls == [(GET_DISK, {"resourceGroupName": "data-rg", "diskName": "archive"})]


def test_an_existing_disk_of_another_region_is_refused(mocks: AzureMocks) -> None:
    mocks.answers = {GET_DISK: found_disk(OTHER_DISK, location="East US 2", tags={})}
    with pytest.raises(ValueError, match=r"storage.volumes\[0\].from.disk_id: disk .*/archive is in East US 2 and "
                                         "the head in westeurope; a VM attaches disks of its region only"):
        build([volume("archive", size_gb=None, type=None, from_=spec.VolumeSource(disk_id=OTHER_DISK))], shared=None)


def test_a_disk_from_a_snapshot_is_a_copy_of_the_snapshots_size(mocks: AzureMocks) -> None:
    snapshot = f"{SUB}/resourceGroups/x/providers/Microsoft.Compute/snapshots/monday"
    build([volume("data", size_gb=None, from_=spec.VolumeSource(snapshot_id=snapshot))], shared=None)
    data = disk(mocks, "data")
    assert data["creationData"] == {"createOption": "Copy", "sourceResourceId": snapshot} and "diskSizeGB" not in data
    assert mocks.calls == []


def test_no_data_group_without_retained_disks(mocks: AzureMocks) -> None:
    build([volume("scratch")], shared=None)
    assert mocks.of_type(GROUP) == []


def test_files_account_is_premium_nfs_tls12_private_and_reachable_from_the_subnet_only(mocks: AzureMocks) -> None:
    outputs = build([], shared=FILES)
    account = mocks.one(ACCOUNT).inputs
    name = ACCOUNT_NAME
    assert account["accountName"] == outputs["account_name"] == name and 3 <= len(name) <= 24
    assert (account["kind"], account["sku"]) == ("FileStorage", {"name": "Premium_LRS"})
    assert account["enableHttpsTrafficOnly"] is False  # NFS cannot use secure transfer
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False and account["allowSharedKeyAccess"] is False
    assert account["networkRuleSet"] == {
        "defaultAction": "Deny", "bypass": "None",
        "virtualNetworkRules": [{"virtualNetworkResourceId": SUBNET_ID, "action": "Allow"}]}
    assert account["encryption"] == {"keySource": "Microsoft.Storage", "requireInfrastructureEncryption": True,
                                     "services": {"file": {"enabled": True, "keyType": "Account"}}}
    assert account["tags"] == TAGS


def test_share_is_nfs_with_explicit_root_squash_and_its_mount_source(mocks: AzureMocks) -> None:
    outputs = build([], shared=FILES)
    share = mocks.one(SHARE).inputs
    name = ACCOUNT_NAME
    assert (share["enabledProtocols"], share["rootSquash"], share["shareName"]) == ("NFS", "NoRootSquash", "shared")
    assert share["accountName"] == name and share["shareQuota"] == 100
    assert outputs["share_source"] == f"{name}.file.core.windows.net:/{name}/shared"


def test_the_only_finding_on_the_account_is_the_nfs_transit_warning(mocks: AzureMocks) -> None:
    build([volume("scratch")], shared=FILES)
    findings = [(f.rule, f.severity) for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)]
    assert findings == [("azure-https-only", "warning")]


def test_no_share_without_files(mocks: AzureMocks) -> None:
    outputs = build([volume("scratch")], shared=None)
    assert mocks.of_type(ACCOUNT) == [] and mocks.of_type(SHARE) == []
    assert outputs["share_source"] is None and outputs["account_name"] is None


@pytest.mark.parametrize(("name", "prefix"), [("hpc", "hpc"), ("azure-hpc-dev", "azurehpcdev"),
                                              ("a-very-long-environment", "averylongenviron"), ("---", "chpc")])
def test_account_names_are_3_to_24_lowercase_alphanumerics_unique_per_resource_group(name: str, prefix: str) -> None:
    first, second = account_name(name, "hpc-rg1a2b3c4d"), account_name(name, "hpc-rg9f8e7d6c")
    assert first.startswith(prefix) and first != second and account_name(name, "hpc-rg1a2b3c4d") == first
    assert all(re.fullmatch(r"[a-z0-9]{3,24}", n) for n in (first, second))
