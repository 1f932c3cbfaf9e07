"""The AWS storage component, against recording mocks: EBS volumes on the head, EFS shared by the nodes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi
import pytest

from components.aws.storage import Storage, StorageArgs
from components.security import SecurityViolation, check_resource
from spec import environment as spec
from tests.aws.mocks import RecordingMocks, assert_all_children_of
from tests.pulumi_helpers import retained

VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
FILE_SYSTEM = "aws:efs/fileSystem:FileSystem"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SUBNETS = ["subnet-0000000a", "subnet-0000000b"]
HEAD_ZONE = "us-east-1b"  # not the mock's first zone: a volume placed there by default would fail the test
OUTPUTS = ("volume_ids", "file_system_id", "file_system_dns_name")
TAGS = {"project": "chpc", "chpc:environment": "hpc"}
FIND_KEPT, BY_ID = "aws:ebs/getEbsVolumes:getEbsVolumes", "aws:ebs/getVolume:getVolume"


def volume(name: str = "scratch", **fields: Any) -> spec.Volume:
    return spec.Volume(name=name, size_gb=fields.pop("size_gb", 500), mount=fields.pop("mount", f"/{name}"), **fields)


def args(volumes: list[spec.Volume] | None = None, shared: str | None = "efs") -> StorageArgs:
    storage = spec.Storage(volumes=[volume()] if volumes is None else volumes,
                           shared=spec.Shared(kind=shared, mount="/shared") if shared else None)
    return StorageArgs(storage=storage, vpc_id="vpc-0a1b2c3d", subnet_ids=list(SUBNETS),
                       cluster_security_group_id="sg-cluster", head_availability_zone=HEAD_ZONE,
                       tags=TAGS)


def build(storage_args: StorageArgs) -> dict[str, Any]:
    """Declare the component and attach its volumes to the head; return its outputs resolved, and fail unless every
    child is parented to it."""
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        storage = Storage("hpc", storage_args)
        storage.attach("i-head")
        values.update(file_system_id=None, file_system_dns_name=None)
        present = {key: getattr(storage, key) for key in OUTPUTS if getattr(storage, key) is not None}
        return pulumi.Output.all(**present).apply(values.update)

    program()
    assert_all_children_of("cloud-hpc-toolkit:aws:Storage", "hpc")
    return values


def by_name(mocks: RecordingMocks, type_token: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in mocks.of_type(type_token)}


def test_volume_defaults_to_encrypted_gp3_in_the_head_zone_attached_to_the_head(mocks, registrations):
    outputs = build(args(shared=None))
    ebs = mocks.one(VOLUME)
    assert ebs.name == "hpc-scratch"
    assert ebs.inputs["type"] == "gp3" and ebs.inputs["encrypted"] is True and ebs.inputs["size"] == 500.0
    assert ebs.inputs["availabilityZone"] == HEAD_ZONE
    assert "iops" not in ebs.inputs and "throughput" not in ebs.inputs
    assert ebs.inputs["finalSnapshot"] is False and retained(registrations[f"{VOLUME}::hpc-scratch"]) is False
    assert "snapshotId" not in ebs.inputs and registrations[f"{VOLUME}::hpc-scratch"].importId == ""
    assert ebs.inputs["tags"] == {**TAGS, "Name": "hpc-scratch", "chpc:volume": "scratch"}
    assert [token for token, _ in mocks.calls] == []  # nothing to look for: not retained, not existing
    attachment = mocks.one(ATTACHMENT)
    assert attachment.inputs == {"volumeId": "hpc-scratch-id", "instanceId": "i-head", "deviceName": "/dev/sdf",
                                 "stopInstanceBeforeDetaching": True}
    assert outputs == {"volume_ids": {"scratch": "hpc-scratch-id"}, "file_system_id": None,
                       "file_system_dns_name": None}
    assert mocks.of_type(FILE_SYSTEM) == []


def test_volume_types_iops_and_throughput_passed_and_devices_in_order(mocks):
    outputs = build(args([volume("fast", type="gp3", iops=6000, throughput=500),
                          volume("db", type="io2", iops=20000), volume("cold", type="sc1", size_gb=2000)]))
    volumes = by_name(mocks, VOLUME)
    assert {n: (v["type"], v.get("iops"), v.get("throughput"), v["size"]) for n, v in volumes.items()} == {
        "hpc-fast": ("gp3", 6000.0, 500.0, 500.0), "hpc-db": ("io2", 20000.0, None, 500.0),
        "hpc-cold": ("sc1", None, None, 2000.0)}
    devices = {a["volumeId"]: a["deviceName"] for a in by_name(mocks, ATTACHMENT).values()}
    assert devices == {"hpc-fast-id": "/dev/sdf", "hpc-db-id": "/dev/sdg", "hpc-cold-id": "/dev/sdh"}
    assert outputs["volume_ids"] == {"fast": "hpc-fast-id", "db": "hpc-db-id", "cold": "hpc-cold-id"}


def found(volume_id: str, zone: str = HEAD_ZONE, size: int = 500, encrypted: bool = True,
          snapshot_id: str = "") -> dict[str, Any]:
    """The getVolume answer for a volume (the provider's camelCase outputs)."""
    return {"id": volume_id, "volumeId": volume_id, "availabilityZone": zone, "size": size, "encrypted": encrypted,
            "snapshotId": snapshot_id, "volumeType": "gp3"}


def test_retained_volume_is_kept_on_delete_without_a_final_snapshot_and_looked_for_among_detached_ones(
        mocks, registrations):
    build(args([volume("keep", retain=True), volume("scratch")], shared=None))
    volumes = by_name(mocks, VOLUME)
    assert volumes["hpc-keep"]["finalSnapshot"] is False  # the provider would take it only as it deletes the volume
    assert retained(registrations[f"{VOLUME}::hpc-keep"]) is True
    assert volumes["hpc-scratch"]["finalSnapshot"] is False
    assert retained(registrations[f"{VOLUME}::hpc-scratch"]) is False
    # the attachment goes on destroy (a detach), the retained volume stays
    assert retained(registrations[f"{ATTACHMENT}::hpc-keep-attachment"]) is False
    # nothing was kept by an earlier destroy: a new volume, not an import
    assert registrations[f"{VOLUME}::hpc-keep"].importId == ""
    assert mocks.calls == [(FIND_KEPT, {"tags": {"chpc:environment": "hpc", "chpc:volume": "keep"},
                                        "filters": [{"name": "status", "values": ["available"]}]})]


def test_a_volume_a_destroy_kept_is_adopted_again_and_attached(mocks, registrations):
    mocks.answers = {FIND_KEPT: {"id": "us-east-1", "ids": ["vol-0keep"]},
                     BY_ID: found("vol-0keep", size=500, snapshot_id="snap-0made0from")}
    outputs = build(args([volume("keep", retain=True, size_gb=600)], shared=None))
    keep = registrations[f"{VOLUME}::hpc-keep"]
    assert keep.importId == "vol-0keep" and retained(keep) is True
    inputs = mocks.one(VOLUME).inputs
    # the spec's size (EBS grows it in place after the import), the snapshot it was made from (unchanged)
    assert (inputs["size"], inputs["snapshotId"], inputs["availabilityZone"]) == (600.0, "snap-0made0from", HEAD_ZONE)
    assert mocks.calls[1] == (BY_ID, {"filters": [{"name": "volume-id", "values": ["vol-0keep"]}]})
    assert mocks.one(ATTACHMENT).inputs["volumeId"] == outputs["volume_ids"]["keep"]


@pytest.mark.parametrize(("answer", "message"), [
    (found("vol-0keep", zone="us-east-1a"), r"storage.volumes\[0\]: volume vol-0keep is in zone us-east-1a and the "
                                            r"head in us-east-1b; an EBS volume attaches only in its zone"),
    (found("vol-0keep", size=800), r"storage.volumes\[0\].size_gb = 500: the retained volume vol-0keep has 800 GB "
                                   "and cannot shrink; give 800 or more"),
])
def test_a_kept_volume_that_cannot_come_back_as_asked_is_refused_before_anything_is_declared(mocks, answer, message):
    mocks.answers = {FIND_KEPT: {"id": "us-east-1", "ids": ["vol-0keep"]}, BY_ID: answer}
    with pytest.raises(ValueError, match=message):
        build(args([volume("keep", retain=True)], shared=None))
    assert mocks.of_type(VOLUME) == []


def test_two_kept_volumes_of_one_name_are_named_rather_than_one_picked(mocks):
    mocks.answers = {FIND_KEPT: {"id": "us-east-1", "ids": ["vol-0b", "vol-0a"]}}
    with pytest.raises(ValueError, match="2 detached volumes are tagged chpc:environment=hpc, chpc:volume=keep: "
                                         "vol-0a, vol-0b; delete or untag all but the one to attach again"):
        build(args([volume("keep", retain=True)], shared=None))


def test_snapshot_on_destroy_is_the_providers_final_snapshot_of_a_volume_destroy_deletes(mocks, registrations):
    build(args([volume("scratch", snapshot_on_destroy=True)], shared=None))
    assert mocks.one(VOLUME).inputs["finalSnapshot"] is True
    assert retained(registrations[f"{VOLUME}::hpc-scratch"]) is False


def test_a_volume_from_a_snapshot_is_a_new_volume_of_the_snapshots_size(mocks, registrations):
    build(args([volume("data", size_gb=None, from_=spec.VolumeSource(snapshot_id="snap-0a1b2c3d"))], shared=None))
    inputs = mocks.one(VOLUME).inputs
    assert inputs["snapshotId"] == "snap-0a1b2c3d" and "size" not in inputs and inputs["encrypted"] is True
    assert registrations[f"{VOLUME}::hpc-data"].importId == "" and mocks.calls == []


def test_an_existing_volume_is_attached_by_id_and_never_declared(mocks):
    mocks.answers = {BY_ID: found("vol-0a1b2c3d")}
    outputs = build(args([volume("data", size_gb=None, from_=spec.VolumeSource(volume_id="vol-0a1b2c3d")),
                          volume("scratch")], shared=None))
    assert [v.name for v in mocks.of_type(VOLUME)] == ["hpc-scratch"]  # nothing of the stack's to delete it with
    devices = {a["volumeId"]: a["deviceName"] for a in by_name(mocks, ATTACHMENT).values()}
    assert devices == {"vol-0a1b2c3d": "/dev/sdf", "hpc-scratch-id": "/dev/sdg"}
    assert outputs["volume_ids"] == {"data": "vol-0a1b2c3d", "scratch": "hpc-scratch-id"}
    assert mocks.calls == [(BY_ID, {"filters": [{"name": "volume-id", "values": ["vol-0a1b2c3d"]}]})]


@pytest.mark.parametrize(("answer", "message"), [
    (found("vol-0a1b2c3d", zone="us-east-1c"), r"storage.volumes\[0\].from.volume_id: volume vol-0a1b2c3d is in "
                                               "zone us-east-1c and the head in us-east-1b"),
    (found("vol-0a1b2c3d", encrypted=False), r"storage.volumes\[0\].from.volume_id: volume vol-0a1b2c3d is not "
                                             "encrypted at rest; attach an encrypted copy"),
])
def test_an_existing_volume_the_head_cannot_take_is_refused(mocks, answer, message):
    mocks.answers = {BY_ID: answer}
    with pytest.raises(ValueError, match=message):
        build(args([volume("data", size_gb=None, from_=spec.VolumeSource(volume_id="vol-0a1b2c3d"))], shared=None))
    assert mocks.of_type(VOLUME) == [] and mocks.of_type(ATTACHMENT) == []


def test_unencrypted_volume_refused_before_anything_is_declared(mocks):
    with pytest.raises(SecurityViolation, match=r"\[storage-unencrypted\] storage.volumes\[1\]: volume plain"):
        build(args([volume("scratch"), volume("plain", encrypted=False)]))
    assert mocks.resources == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"type": "gp2", "iops": 3000}, r"storage.volumes\[0\].iops: type gp2 takes no iops"),
    ({"type": "io2", "iops": 3000, "throughput": 500}, r"storage.volumes\[0\].throughput: type io2 takes no"),
    ({"type": "io1"}, r"storage.volumes\[0\].iops: required for type io1"),
])
def test_performance_settings_ebs_would_reject_or_ignore_refused(mocks, fields, message):
    with pytest.raises(ValueError, match=message):
        build(args([volume(**fields)]))
    assert mocks.resources == []


def test_more_volumes_than_device_names_refused(mocks):
    with pytest.raises(ValueError, match="storage.volumes: 12 volumes, at most 11 on the head"):
        build(args([volume(f"v{i}") for i in range(12)]))
    assert mocks.resources == []


def test_efs_encrypted_elastic_with_lifecycle_policy(mocks):
    outputs = build(args())
    fs = mocks.one(FILE_SYSTEM)
    assert fs.name == "hpc-efs"
    assert fs.inputs["encrypted"] is True
    assert fs.inputs["performanceMode"] == "generalPurpose" and fs.inputs["throughputMode"] == "elastic"
    assert fs.inputs["lifecyclePolicies"] == [{"transitionToIa": "AFTER_30_DAYS"},
                                              {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]
    assert outputs["file_system_id"] == "hpc-efs-id"
    assert outputs["file_system_dns_name"] == "hpc-efs-id.efs.us-east-1.amazonaws.com"
    assert mocks.of_type("aws:efs/accessPoint:AccessPoint") == []  # nodes mount the root through the TLS tunnel


def test_one_mount_target_per_subnet_behind_an_nfs_only_group(mocks):
    build(args())
    targets = mocks.of_type(MOUNT_TARGET)
    assert sorted(t.inputs["subnetId"] for t in targets) == SUBNETS
    assert all(t.inputs["fileSystemId"] == "hpc-efs-id" and t.inputs["securityGroups"] == ["hpc-efs-sg-id"]
               for t in targets)
    group = mocks.one("aws:ec2/securityGroup:SecurityGroup")
    assert group.name == "hpc-efs-sg" and group.inputs["vpcId"] == "vpc-0a1b2c3d"
    assert "ingress" not in group.inputs and "egress" not in group.inputs
    nfs = mocks.one(INGRESS)
    assert {k: v for k, v in nfs.inputs.items() if k not in ("description", "tags")} == {
        "securityGroupId": "hpc-efs-sg-id", "ipProtocol": "tcp", "fromPort": 2049.0, "toPort": 2049.0,
        "referencedSecurityGroupId": "sg-cluster"}
    # the cluster's nodes reach the file system on NFS only (their other egress is HTTPS/HTTP out of the VPC)
    out = mocks.one("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert {k: v for k, v in out.inputs.items() if k not in ("description", "tags")} == {
        "securityGroupId": "sg-cluster", "ipProtocol": "tcp", "fromPort": 2049.0, "toPort": 2049.0,
        "referencedSecurityGroupId": "hpc-efs-sg-id"}


def test_file_system_policy_denies_everything_without_tls(mocks):
    build(args())
    policy = mocks.one("aws:efs/fileSystemPolicy:FileSystemPolicy")
    assert policy.inputs["fileSystemId"] == "hpc-efs-id"
    arn = "arn:aws:mock:us-east-1:123456789012:hpc-efs"
    statements = json.loads(policy.inputs["policy"])["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny == [{"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*",
                     "Resource": arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1 and allow[0]["Resource"] == arn
    assert allow[0]["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}


def test_file_system_policy_lets_root_on_a_node_mount_write_and_stay_root(mocks):
    """Without ClientRootAccess EFS squashes root to nobody, and the storage role's mount.sh (run as root) cannot make
    the toolkit's folder on the share for the SSH user: every job would then fail to write its script."""
    build(args())
    policy = mocks.one("aws:efs/fileSystemPolicy:FileSystemPolicy")
    (allow,) = [s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Effect"] == "Allow"]
    assert sorted(allow["Action"]) == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess",
                                       "elasticfilesystem:ClientWrite"]


@pytest.mark.parametrize("shared", [None, "local"])
def test_no_file_system_unless_the_spec_asks_for_efs(mocks, shared):
    outputs = build(args(shared=shared))
    assert mocks.of_type(FILE_SYSTEM) == [] and mocks.of_type(MOUNT_TARGET) == []
    assert outputs["file_system_id"] is None
    assert mocks.of_type(VOLUME)


def test_efs_without_subnets_refused(mocks):
    with pytest.raises(ValueError, match="storage.shared: EFS needs at least one subnet"):
        build(dataclasses.replace(args(), subnet_ids=[]))
    assert mocks.resources == []


def test_every_declared_resource_passes_the_resource_rules(mocks):
    build(args([volume("keep", retain=True), volume("fast", type="io2", iops=8000)]))
    assert mocks.of_type(VOLUME) and mocks.of_type(FILE_SYSTEM) and mocks.of_type(INGRESS)
    assert [f for r in mocks.resources for f in check_resource(r.type, r.inputs, r.name)] == []
