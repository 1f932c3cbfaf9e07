"""What a node is told to mount at boot, from the volumes and the share the outputs contract exports: the keys the
storage role reads, a volume found by its device where it has one (loop device, Azure LUN), else by its id (EBS)."""

from __future__ import annotations

import pytest

from components.boot.storage import storage_vars
from spec.outputs import SharedFs, Volume


def test_a_local_node_gets_its_loop_devices_and_the_bind_share_without_fstab_lines() -> None:
    volume = Volume(name="scratch", node="compute-0", mount="/scratch", device="/dev/loop3", fs_type="xfs")
    shared = SharedFs(kind="bind", source="/var/lib/cloud-hpc-toolkit/env/shared", mount="/shared")
    assert storage_vars([volume.model_dump()], shared.model_dump(), owner="root", persist=False) == {
        "storage_volumes": [{"name": "scratch", "mount": "/scratch", "fs_type": "xfs", "device": "/dev/loop3"}],
        "storage_shared": {"kind": "bind", "source": "/var/lib/cloud-hpc-toolkit/env/shared", "mount": "/shared",
                           "options": ""},
        "storage_owner": "root", "storage_persist": False}


def test_an_ebs_volume_is_found_by_its_id_and_an_azure_disk_by_its_lun_device() -> None:
    ebs = {"name": "scratch", "node": "head", "mount": "/scratch", "volume_id": "vol-0abc", "fs_type": "ext4",
           "retain": True}
    azure = {"name": "data", "node": "head", "mount": "/data", "device": "/dev/disk/azure/scsi1/lun0",
             "volume_id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d", "fs_type": "ext4"}
    found = storage_vars([ebs, azure], None, owner="ec2-user", persist=True)
    assert found["storage_volumes"] == [
        {"name": "scratch", "mount": "/scratch", "fs_type": "ext4", "volume_id": "vol-0abc"},
        {"name": "data", "mount": "/data", "fs_type": "ext4", "device": "/dev/disk/azure/scsi1/lun0"}]
    assert (found["storage_shared"], found["storage_owner"], found["storage_persist"]) == (None, "ec2-user", True)


def test_a_share_keeps_only_what_the_role_reads() -> None:
    shared = {"kind": "efs", "source": "fs-1.efs.us-east-1.amazonaws.com", "mount": "/shared"}
    assert storage_vars([], shared, owner="ec2-user", persist=True)["storage_shared"] == shared


def test_a_volume_with_neither_device_nor_id_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="volume scratch: neither a device nor a volume id"):
        storage_vars([{"name": "scratch", "mount": "/scratch", "fs_type": "ext4", "device": None}], None,
                     owner="root", persist=False)
