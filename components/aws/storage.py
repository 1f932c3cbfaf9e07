"""The head's EBS volumes and the EFS file system every node shares, encrypted at rest and (EFS) in transit.

The volumes are made before the head, in its subnet's zone, and attached once it exists (``attach``): the head's
boot is told their ids, so that it mounts them itself (the storage role waits for the attachments).

What destroy does with a volume, and where the next `up` gets it:

- ``retain``: ``retain_on_delete``, so destroy drops the volume from the stack and leaves it in place. The next
  `up` looks for it by its tags (environment and volume name) among detached volumes and adopts it with
  ``import_``: Pulumi reads it into the stack and, with the import-then-update engine (pulumi#19339, 2025),
  updates what differs from the spec as for any volume of the stack (a bigger size, another type; shrinking is
  refused here; an older CLI refuses an import whose inputs differ, naming them); the next destroy keeps it again.
  While the environment is up its volume is attached, so the lookup finds nothing and the stack keeps it as it is.
  Attaching it by id without managing it (as an existing volume is) was the other way; it was not taken because the
  first life's volume is made, so managed, by the stack: later lives would then hold it differently (spec changes
  applied in the first, silently ignored after), and the plan and `up`'s summary would not show it. Adopting keeps
  one regime for every life. Offline (`invoke plan`) no lookup can run: the plan's mocks find nothing, and the plan
  says in a note that `up` will look.
- ``snapshot_on_destroy``: the provider's ``final_snapshot``, which it takes only as it deletes the volume (so
  never with ``retain``); the snapshot carries the volume's tags, which is how destroy's check knows it is kept.
- ``from.volume_id``: an existing volume, looked up by id, is attached only: it is never in the stack, so no
  spec of ours changes it and destroy only detaches it (and the storage role never formats a device that has a
  file system).
- ``from.snapshot_id``: a new volume made from the snapshot (its size unless the spec gives one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.volume_lookup import check_attachable, retained_volume, volume_by_id
from components.kept_volumes import check_size
from components.security import Finding, refuse
from spec import environment as spec
from spec.outputs import ENVIRONMENT_TAG, VOLUME_TAG, volume_identity

DEFAULT_VOLUME_TYPE = "gp3"
IOPS_TYPES = ("gp3", "io1", "io2")
THROUGHPUT_TYPES = ("gp3",)
# AWS recommends /dev/sd[f-p] for EBS data volumes on Linux (Nitro exposes them as NVMe, found by volume id).
DEVICE_NAMES = tuple(f"/dev/sd{letter}" for letter in "fghijklmnop")


@dataclass(frozen=True)
class StorageArgs:
    storage: spec.Storage
    vpc_id: pulumi.Input[str]
    # One EFS mount target per subnet (one subnet per zone). A list of known length, not an Output of a list:
    # one resource per element is declared up front, where preview sees it.
    subnet_ids: list[pulumi.Input[str]]
    cluster_security_group_id: pulumi.Input[str]
    head_availability_zone: str  # the zone of the head's subnet, where its volumes must be
    tags: dict[str, str]  # the environment's, with ENVIRONMENT_TAG: a retained volume is found again by it


def check_volume_encryption(volumes: list[spec.Volume]) -> list[Finding]:
    """Data at rest is encrypted; the spec's default is ``encrypted: true`` and switching it off is refused."""
    return [Finding("storage-unencrypted", "error", f"storage.volumes[{index}]",
                    f"volume {volume.name} is not encrypted at rest; remove encrypted: false")
            for index, volume in enumerate(volumes) if not volume.encrypted]


def check_volume_performance(volumes: list[spec.Volume]) -> None:
    """Refuse settings EBS would reject mid-deploy, or ignore silently, with one line naming the field."""
    if len(volumes) > len(DEVICE_NAMES):
        raise ValueError(f"storage.volumes: {len(volumes)} volumes, at most {len(DEVICE_NAMES)} on the head")
    for index, volume in enumerate(volumes):
        kind = volume.type or DEFAULT_VOLUME_TYPE
        if volume.iops is not None and kind not in IOPS_TYPES:
            raise ValueError(f"storage.volumes[{index}].iops: type {kind} takes no iops (only {', '.join(IOPS_TYPES)})")
        if volume.throughput is not None and kind not in THROUGHPUT_TYPES:
            raise ValueError(f"storage.volumes[{index}].throughput: type {kind} takes no throughput "
                             f"(only {', '.join(THROUGHPUT_TYPES)})")
        if volume.iops is None and kind in ("io1", "io2"):
            raise ValueError(f"storage.volumes[{index}].iops: required for type {kind}")


def tls_only_policy(file_system_arn: str) -> str:
    """Mounts through a mount target are allowed (a policy without an allow would refuse every NFS client);
    anything not over TLS is denied, so data is encrypted in transit (mount with ``-o tls``)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "MountThroughMountTargets", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite",
                        "elasticfilesystem:ClientRootAccess"],
             "Resource": file_system_arn,
             "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}},
            {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*",
             "Resource": file_system_arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    }, sort_keys=True)


class Storage(pulumi.ComponentResource):
    """EBS volumes for the head (kept on destroy and adopted again when ``retain``, attached as they are when
    existing) and, for ``shared.kind: efs``, an EFS file system reachable only from the cluster security group, over
    TLS only."""

    volume_ids: dict[str, pulumi.Input[str]]  # an existing volume's is its id as the spec gives it
    file_system_id: pulumi.Output[str] | None
    file_system_dns_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        volumes = args.storage.volumes
        refuse(check_volume_encryption(volumes))
        check_volume_performance(volumes)
        shared = args.storage.shared
        efs = shared is not None and shared.kind == "efs"
        if efs and not args.subnet_ids:
            raise ValueError("storage.shared: EFS needs at least one subnet for its mount targets")
        super().__init__("cloud-hpc-toolkit:aws:Storage", name, None, opts)
        self._name, self._tags = name, args.tags
        self._lookups = pulumi.InvokeOptions(parent=self)  # through the component's provider (its region)
        self._devices = dict(zip((volume.name for volume in volumes), DEVICE_NAMES, strict=False))
        self.volume_ids = {volume.name: self._volume(f"storage.volumes[{index}]", volume, args)
                           for index, volume in enumerate(volumes)}
        self.file_system_id = self.file_system_dns_name = None
        if efs:
            self._file_system(args)
        self.register_outputs({
            "volume_ids": self.volume_ids,
            "file_system_id": self.file_system_id,
            "file_system_dns_name": self.file_system_dns_name,
        })

    def _named(self, suffix: str) -> dict[str, str]:
        return {**self._tags, "Name": f"{self._name}-{suffix}"}

    def attach(self, head_instance_id: pulumi.Input[str]) -> None:
        """Attach every volume to the head, once the head exists (its boot waits for them); each attachment depends
        on its volume and on the head, and the head on no attachment."""
        for name, volume_id in self.volume_ids.items():
            # Stopping the head first keeps destroy from hanging on a busy (mounted) volume.
            aws.ec2.VolumeAttachment(f"{self._name}-{name}-attachment", volume_id=volume_id,
                                     instance_id=head_instance_id, device_name=self._devices[name],
                                     stop_instance_before_detaching=True, opts=pulumi.ResourceOptions(parent=self))

    def _volume(self, at: str, volume: spec.Volume, args: StorageArgs) -> pulumi.Input[str]:
        """The id of the volume to attach: an existing one's as given, else the stack's own volume (adopted again
        when a destroy kept it, else new, empty or from the snapshot given)."""
        zone = args.head_availability_zone
        existing = volume.from_.existing if volume.from_ else None
        if existing:
            check_attachable(volume_by_id(existing, self._lookups), f"{at}.from.volume_id", zone)
            return existing
        kept = (retained_volume(volume_identity(self._tags[ENVIRONMENT_TAG], volume.name), self._lookups)
                if volume.retain else None)
        if kept:
            check_attachable(kept, at, zone)
            check_size(at, volume.size_gb, kept.id, kept.size)
        snapshot = kept.snapshot_id if kept else volume.from_.snapshot_id if volume.from_ else None
        ebs = aws.ebs.Volume(
            f"{self._name}-{volume.name}", availability_zone=zone, type=volume.type or DEFAULT_VOLUME_TYPE,
            size=volume.size_gb, iops=volume.iops, throughput=volume.throughput, encrypted=True, snapshot_id=snapshot,
            final_snapshot=volume.snapshot_on_destroy, tags={**self._named(volume.name), VOLUME_TAG: volume.name},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=volume.retain or None,
                                        import_=kept.id if kept else None))
        return ebs.id

    def _file_system(self, args: StorageArgs) -> None:
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        fs = aws.efs.FileSystem(
            f"{name}-efs", encrypted=True, performance_mode="generalPurpose", throughput_mode="elastic",
            lifecycle_policies=[aws.efs.FileSystemLifecyclePolicyArgs(transition_to_ia="AFTER_30_DAYS"),
                                aws.efs.FileSystemLifecyclePolicyArgs(
                                    transition_to_primary_storage_class="AFTER_1_ACCESS")],
            tags=self._named("efs"), opts=child)
        group = aws.ec2.SecurityGroup(f"{name}-efs-sg", vpc_id=args.vpc_id, description="NFS from cluster nodes",
                                      tags=self._named("efs"), opts=child)
        aws.vpc.SecurityGroupIngressRule(f"{name}-efs-nfs", security_group_id=group.id, ip_protocol="tcp",
                                         from_port=2049, to_port=2049,
                                         referenced_security_group_id=args.cluster_security_group_id,
                                         description="NFS from the cluster security group",
                                         tags=self._named("efs-nfs"), opts=child)
        aws.vpc.SecurityGroupEgressRule(f"{name}-efs-nfs-out", security_group_id=args.cluster_security_group_id,
                                        ip_protocol="tcp", from_port=2049, to_port=2049,
                                        referenced_security_group_id=group.id,
                                        description="NFS (inside the TLS tunnel) to the file system's mount targets",
                                        tags=self._named("efs-nfs-out"), opts=child)
        # file_system_id makes each mount target depend on the file system, so destroy removes them first.
        for index, subnet_id in enumerate(args.subnet_ids):
            aws.efs.MountTarget(f"{name}-efs-mount-{index}", file_system_id=fs.id, subnet_id=subnet_id,
                                security_groups=[group.id], opts=child)
        aws.efs.FileSystemPolicy(f"{name}-efs-policy", file_system_id=fs.id, policy=fs.arn.apply(tls_only_policy),
                                 opts=child)
        self.file_system_id, self.file_system_dns_name = fs.id, fs.dns_name
