"""Where a volume comes from and what destroy does with it: ``retain``, ``snapshot_on_destroy`` and ``from`` (an
existing volume or a snapshot), each only where the target has it, every mistake one line."""

from __future__ import annotations

import pytest

from spec.environment import Environment
from spec.errors import SpecError, brief_repr
from spec.loader import load_spec_text

MACHINES = "ssh: {allowed_cidr: 198.51.100.0/24}\nhead: {instance_type: a}\ncompute: {instance_type: b}\n"
AWS = "target: aws\nregion: us-east-1\n" + MACHINES
AZURE = "target: azure\nregion: westeurope\n" + MACHINES
GROUP = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/data-rg/providers/Microsoft.Compute"
DISK, SNAPSHOT = f"{GROUP}/disks/scratch-1", f"{GROUP}/snapshots/scratch-2026"
AZURE_SNAPSHOT_RULE = ("a snapshot's resource id such as "
                       "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/snapshots/<name>")


def volumes(head: str, *fields: str) -> str:
    listed = ", ".join(f"{{name: v{index}, mount: /v{index}, {text}}}" for index, text in enumerate(fields))
    return f"{head}storage: {{volumes: [{listed}]}}"


def load(text: str) -> Environment:
    return load_spec_text(text)


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text)
    return str(caught.value)


def test_an_existing_ebs_volume_is_attached_as_it_is_with_no_size_or_type_of_ours():
    [volume] = load(volumes(AWS, "from: {volume_id: vol-0a1b2c3d4e5f60718}")).storage.volumes
    assert volume.from_ is not None and volume.from_.existing == "vol-0a1b2c3d4e5f60718"
    assert (volume.size_gb, volume.type, volume.retain, volume.snapshot_on_destroy) == (None, None, False, False)


def test_a_volume_from_a_snapshot_takes_the_snapshots_size_unless_given_one():
    small, big = load(volumes(AWS, "from: {snapshot_id: snap-0a1b2c3d}",
                              "size_gb: 900, retain: true, from: {snapshot_id: snap-0a1b2c3d}")).storage.volumes
    assert (small.size_gb, small.type, small.from_.existing) == (None, "gp3", None)
    assert (big.size_gb, big.retain, big.from_.snapshot_id) == (900, True, "snap-0a1b2c3d")


def test_snapshot_on_destroy_on_aws():
    [volume] = load(volumes(AWS, "size_gb: 10, snapshot_on_destroy: true")).storage.volumes
    assert (volume.snapshot_on_destroy, volume.retain) == (True, False)


def test_azure_takes_a_disk_or_a_snapshot_by_resource_id_in_any_case():
    disk, copy = load(volumes(AZURE, f"from: {{disk_id: {DISK.upper()}}}",
                              f"from: {{snapshot_id: {SNAPSHOT}}}")).storage.volumes
    assert disk.from_.existing == DISK.upper() and disk.type is None
    assert (copy.from_.snapshot_id, copy.size_gb, copy.type) == (SNAPSHOT, None, "Premium_LRS")


@pytest.mark.parametrize(("text", "message"), [
    (volumes(AWS, "size_gb: 1, from: {volume_id: vol-0a1b2c3d}"),
     "storage.volumes[0].size_gb = 1: allowed: none with from vol-0a1b2c3d (an existing volume keeps its own)"),
    (volumes(AWS, "type: gp3, from: {volume_id: vol-0a1b2c3d}"),
     "storage.volumes[0].type = 'gp3': allowed: none with from vol-0a1b2c3d (an existing volume keeps its own)"),
    (volumes(AWS, "retain: true, from: {volume_id: vol-0a1b2c3d}"),
     "storage.volumes[0].retain = True: allowed: false with from vol-0a1b2c3d (destroy never deletes an existing "
     "volume)"),
    (volumes(AWS, "snapshot_on_destroy: true, from: {volume_id: vol-0a1b2c3d}"),
     "storage.volumes[0].snapshot_on_destroy = True: allowed: false with from vol-0a1b2c3d (destroy never deletes an "
     "existing volume)"),
    (volumes(AWS, "size_gb: 1, retain: true, snapshot_on_destroy: true"),
     "storage.volumes[0].snapshot_on_destroy = True: allowed: false with retain: true (a kept volume is never "
     "deleted, and a final snapshot is taken only when it is)"),
    (volumes(AWS, "from: {}"), "storage.volumes[0].from = {}: allowed: exactly one of volume_id, disk_id, snapshot_id"),
    (volumes(AWS, "from: {volume_id: vol-0a1b2c3d, snapshot_id: snap-0a1b2c3d}"),
     f"storage.volumes[0].from = {brief_repr({'volume_id': 'vol-0a1b2c3d', 'snapshot_id': 'snap-0a1b2c3d'})}: "
     "allowed: exactly one of volume_id, disk_id, snapshot_id"),
    (volumes(AWS, "from: {volume_id: vol-1}"),
     "storage.volumes[0].from.volume_id = 'vol-1': allowed: an EBS volume id such as vol-0a1b2c3d"),
    (volumes(AWS, "from: {volume_id: vol-0a1b2c3d; rm -rf}"),
     "storage.volumes[0].from.volume_id = 'vol-0a1b2c3d; rm -rf': allowed: an EBS volume id such as vol-0a1b2c3d"),
    (volumes(AWS, "from: {snapshot_id: snap-xyz}"),
     "storage.volumes[0].from.snapshot_id = 'snap-xyz': allowed: an EBS snapshot id such as snap-0a1b2c3d, or a "
     "snapshot's resource id such as /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/"
     "snapshots/<name>"),
    (volumes(AWS, "from: {disk: x}"),
     "storage.volumes[0].from.disk: unknown field; allowed fields: volume_id, disk_id, snapshot_id"),
    (volumes(AWS, "size_gb: 1, form: {volume_id: vol-0a1b2c3d}"),
     "storage.volumes[0].form: unknown field; allowed fields: name, size_gb, type, iops, throughput, mount, fs_type, "
     "encrypted, retain, snapshot_on_destroy, from"),
    # what belongs to another target
    (volumes(AWS, f"from: {{disk_id: {DISK}}}"),
     f"storage.volumes[0].from.disk_id = {brief_repr(DISK)}: allowed: volume_id, snapshot_id (target aws)"),
    (volumes(AWS, f"from: {{snapshot_id: {SNAPSHOT}}}"),
     f"storage.volumes[0].from.snapshot_id = {brief_repr(SNAPSHOT)}: allowed: an EBS snapshot id such as "
     "snap-0a1b2c3d (target aws)"),
    (volumes(AZURE, "from: {volume_id: vol-0a1b2c3d}"),
     "storage.volumes[0].from.volume_id = 'vol-0a1b2c3d': allowed: disk_id, snapshot_id (target azure)"),
    (volumes(AZURE, "from: {snapshot_id: snap-0a1b2c3d}"),
     f"storage.volumes[0].from.snapshot_id = 'snap-0a1b2c3d': allowed: {AZURE_SNAPSHOT_RULE} (target azure)"),
    (volumes(AZURE, "size_gb: 1, snapshot_on_destroy: true"),
     "storage.volumes[0].snapshot_on_destroy = True: allowed: false (target azure: only aws snapshots a volume as "
     "destroy deletes it; keep it with retain: true instead)"),
    (volumes(AZURE, f"from: {{disk_id: {GROUP}/virtualMachines/head}}"),
     f"storage.volumes[0].from.disk_id = {brief_repr(GROUP + '/virtualMachines/head')}: allowed: a managed disk's "
     "resource id such as /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/disks/<name>"),
    (volumes("", "from: {snapshot_id: snap-0a1b2c3d}"),
     "storage.volumes[0].from.snapshot_id = 'snap-0a1b2c3d': allowed: no from (target local)"),
    (volumes("", "size_gb: 1, snapshot_on_destroy: true"),
     "storage.volumes[0].snapshot_on_destroy = True: allowed: false (target local: only aws snapshots a volume as "
     "destroy deletes it; keep it with retain: true instead)"),
])
def test_error_names_field_value_and_what_is_allowed(text: str, message: str) -> None:
    assert error_of(text) == f"spec error: {message}"
