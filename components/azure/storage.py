"""The head's managed data disks and, for ``shared.kind: files``, the Azure Files NFS share every node mounts.

Retained disks (``retain: true``) sit in a resource group of their own, itself kept on destroy: Azure deletes a
group with everything in it, so a retained disk in the environment's group would go with it. The group and the
disks have names known before deploy (the environment's, its region's, the volume's), so the next `up` finds them
(``components.azure.disk_lookup``) and adopts them with ``import_``, as on AWS (``components.aws.storage`` says why
adopting rather than attaching by id): Pulumi reads them into the stack, updates what differs from the spec, and the
next destroy keeps them again. While the environment is up the lookups find the stack's own group and disk, and an
``import_`` of the id a resource already has in the stack is no import: Pulumi's step generator treats it as any
other resource (``isImport`` needs the ids to differ). An existing disk (``from.disk_id``) is only attached: the
head VM's data disk entry names it, the stack never holds it, and deleting the VM detaches it. A snapshot
(``from.snapshot_id``) is copied into a new disk. Azure takes no snapshot as a disk is deleted, so
``snapshot_on_destroy`` is refused by the spec.

Encryption at rest is Azure's own and cannot be switched off: every managed disk and storage account is
encrypted with platform-managed keys; the disks say so explicitly and the storage account adds
infrastructure (double) encryption. NFS on Azure Files has no encryption in transit, so the share is
reachable only from the cluster subnet (service endpoint + network rule, everything else denied).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.compute as compute
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage
from pulumi import Input, Output

from components.azure.disk_lookup import (
    FoundDisk,
    check_identity,
    check_location,
    existing_disk,
    kept_group,
    kept_group_name,
    retained_disk,
)
from components.kept_volumes import check_size
from components.security import refuse
from spec import environment as spec
from spec.outputs import ENVIRONMENT_TAG, VOLUME_TAG, volume_identity
from spec.verdict import check_disk_encryption

# Only Premium SSD v2 takes provisioned IOPS and throughput (Ultra Disk is not offered by the spec).
PERFORMANCE_TYPES = ("PremiumV2_LRS",)
MAX_LUNS = 64  # LUNs 0-63; the head's size may allow fewer data disks, which Azure reports at deploy
SHARE_NAME = "shared"
SHARE_QUOTA_GB = 100  # the smallest premium (provisioned) file share
# The node sees data disk N at this path (Azure's udev rules on the Ubuntu images).
DEVICE = "/dev/disk/azure/scsi1/lun{lun}"


@dataclass(frozen=True)
class AzureStorageArgs:
    storage: spec.Storage
    resource_group_name: Input[str]
    location: str
    subnet_id: Input[str]  # the cluster subnet, with the Microsoft.Storage service endpoint
    tags: dict[str, str]  # the environment's, with ENVIRONMENT_TAG: a retained disk must carry it to be adopted
    zone: str | None = None  # the head's availability zone (components/azure/zones.py): its disks are made there


def check_volume_performance(volumes: list[spec.Volume]) -> None:
    """Refuse settings Azure would reject mid-deploy, with one line naming the field."""
    if len(volumes) > MAX_LUNS:
        raise ValueError(f"storage.volumes: {len(volumes)} volumes, at most {MAX_LUNS} on the head")
    for index, volume in enumerate(volumes):
        for field in ("iops", "throughput"):
            if getattr(volume, field) is not None and volume.type not in PERFORMANCE_TYPES:
                raise ValueError(f"storage.volumes[{index}].{field}: type {volume.type} takes no {field} "
                                 f"(only {', '.join(PERFORMANCE_TYPES)}; Premium_LRS performance follows its size)")


def _creation(volume: spec.Volume, kept: FoundDisk | None) -> compute.CreationDataArgs:
    """How the disk is made: as an adopted disk was made (Azure cannot change it), a copy of the snapshot given, or
    empty."""
    if kept:
        return compute.CreationDataArgs(create_option=kept.create_option, source_resource_id=kept.source_resource_id)
    if volume.from_ and volume.from_.snapshot_id:
        return compute.CreationDataArgs(create_option="Copy", source_resource_id=volume.from_.snapshot_id)
    return compute.CreationDataArgs(create_option="Empty")


def account_name(name: str, resource_group: str) -> str:
    """Storage account names are 3-24 lowercase letters and digits, unique across Azure: the environment's
    name and 8 hex digits of its resource group's name (which azure-native makes unique with a random
    suffix), so the name is stable for the group's life and needs no extra resource."""
    prefix = re.sub(r"[^a-z0-9]", "", name.lower())[:16] or "chpc"
    return prefix + hashlib.sha256(resource_group.encode()).hexdigest()[:8]


class AzureStorage(pulumi.ComponentResource):
    """Managed disks for the head (kept on destroy and adopted again when ``retain``, attached as they are when
    existing) and the NFS share of ``files``."""

    disk_ids: dict[str, Input[str]]  # an existing disk's is its id as the spec gives it
    luns: dict[str, int]
    devices: dict[str, str]
    data_disks: list[tuple[int, Input[str]]]
    data_group_name: pulumi.Output[str] | None
    account_name: pulumi.Output[str] | None
    share_source: pulumi.Output[str] | None

    def __init__(self, name: str, args: AzureStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        volumes = args.storage.volumes
        refuse(check_disk_encryption(volumes))
        check_volume_performance(volumes)
        super().__init__("cloud-hpc-toolkit:azure:Storage", name, None, opts)
        self._name, self._tags = name, args.tags
        self._lookups = pulumi.InvokeOptions(parent=self)
        self.luns = {volume.name: lun for lun, volume in enumerate(volumes)}
        self.devices = {volume.name: DEVICE.format(lun=lun) for volume, lun in zip(volumes, self.luns.values(),
                                                                                       strict=True)}
        # Deleting a resource group deletes everything in it, retained or not: retained disks live in a group
        # of their own that destroy leaves in place (AWS has no such trap: a volume outlives its VPC).
        self._kept_group_found = False
        self.data_group_name = self._data_group(args) if any(volume.retain for volume in volumes) else None
        self.disk_ids = {volume.name: self._disk(f"storage.volumes[{index}]", volume, args)
                         for index, volume in enumerate(volumes)}
        self.data_disks = [(self.luns[volume], disk_id) for volume, disk_id in self.disk_ids.items()]
        self.account_name = self.share_source = None
        if args.storage.shared and args.storage.shared.kind == "files":
            self._share(args)
        self.register_outputs({"disk_ids": self.disk_ids, "data_group_name": self.data_group_name,
                               "devices": self.devices, "account_name": self.account_name,
                               "share_source": self.share_source})

    def _data_group(self, args: AzureStorageArgs) -> pulumi.Output[str]:
        """The kept group, adopted again when an earlier destroy left it."""
        name = kept_group_name(self._name, args.location)
        found = kept_group(name, self._lookups)
        self._kept_group_found = found is not None
        group = resources.ResourceGroup(f"{self._name}-data", resource_group_name=name, location=args.location,
                                        tags={**args.tags, "chpc:retained": "true"},
                                        opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, import_=found))
        return group.name

    def _disk(self, at: str, volume: spec.Volume, args: AzureStorageArgs) -> Input[str]:
        """The id of the disk to attach: an existing one's as given, else the stack's own disk (adopted again when a
        destroy kept it, else new, empty or copied from the snapshot given)."""
        existing = volume.from_.existing if volume.from_ else None
        if existing:
            check_location(existing_disk(existing, self._lookups), f"{at}.from.disk_id", args.location)
            return existing
        kept = self._kept_disk(at, volume, args) if volume.retain else None
        performance = volume.type in PERFORMANCE_TYPES
        group = self.data_group_name if volume.retain and self.data_group_name else args.resource_group_name
        disk = compute.Disk(
            f"{self._name}-{volume.name}", resource_group_name=group, location=args.location,
            # a retained disk's name is known, so the next `up` finds it; the others are named by azure-native
            disk_name=self._disk_name(volume) if volume.retain else None,
            sku=compute.DiskSkuArgs(name=volume.type), disk_size_gb=volume.size_gb,
            zones=[args.zone] if args.zone else None, creation_data=_creation(volume, kept),
            disk_iops_read_write=volume.iops if performance else None,
            disk_m_bps_read_write=volume.throughput if performance else None,
            encryption=compute.EncryptionArgs(type="EncryptionAtRestWithPlatformKey"),
            # No SAS export or import of the disk's bytes, from anywhere.
            network_access_policy="DenyAll", public_network_access="Disabled",
            tags={**args.tags, VOLUME_TAG: volume.name},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=volume.retain or None,
                                        import_=kept.id if kept else None))
        return disk.id

    def _disk_name(self, volume: spec.Volume) -> str:
        return f"{self._name}-{volume.name}"

    def _kept_disk(self, at: str, volume: spec.Volume, args: AzureStorageArgs) -> FoundDisk | None:
        """The disk an earlier destroy kept for ``volume``, checked to be this environment's and big enough."""
        if not self._kept_group_found:
            return None  # no kept group, so no kept disk: nothing to ask
        kept = retained_disk(kept_group_name(self._name, args.location), self._disk_name(volume), self._lookups)
        if kept:
            check_identity(kept, at, volume_identity(self._tags[ENVIRONMENT_TAG], volume.name))
            check_size(at, volume.size_gb, kept.id, kept.size_gb)
        return kept

    def _share(self, args: AzureStorageArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        account = storage.StorageAccount(
            f"{self._name}-files",
            account_name=Output.from_input(args.resource_group_name).apply(lambda group: account_name(self._name,
                                                                                                      group)),
            resource_group_name=args.resource_group_name, location=args.location,
            kind="FileStorage", sku=storage.SkuArgs(name="Premium_LRS"),
            # NFS shares cannot be reached while "secure transfer required" is on (NFS carries no TLS):
            # the network rules below are what keeps the share private.
            enable_https_traffic_only=False, minimum_tls_version="TLS1_2", allow_blob_public_access=False,
            allow_shared_key_access=False,
            # Public network access stays "Enabled" because service-endpoint traffic arrives on the public
            # endpoint; the rule set denies all of it except the cluster subnet's, and no Azure service bypass.
            public_network_access="Enabled",
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action="Deny", bypass="None",
                virtual_network_rules=[storage.VirtualNetworkRuleArgs(virtual_network_resource_id=args.subnet_id,
                                                                      action="Allow")]),
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Storage", require_infrastructure_encryption=True,
                services=storage.EncryptionServicesArgs(file=storage.EncryptionServiceArgs(enabled=True,
                                                                                           key_type="Account"))),
            tags=args.tags, opts=child)
        # No root squash: every node's root is trusted by design (the shared munge key makes root on one node
        # root across the cluster), and root must create the users' folders in the root-owned share.
        share = storage.FileShare(
            f"{self._name}-share", account_name=account.name, resource_group_name=args.resource_group_name,
            share_name=SHARE_NAME, enabled_protocols="NFS", root_squash="NoRootSquash", share_quota=SHARE_QUOTA_GB,
            opts=child)
        self.account_name = account.name
        self.share_source = Output.concat(account.name, ".file.core.windows.net:/", account.name, "/", share.name)
