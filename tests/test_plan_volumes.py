"""What the offline plan says about volumes `up` attaches rather than makes and about what destroy does with each,
from the real programs under the plan's own mocks (no credentials: a volume a destroy kept cannot be known, so the
plan says `up` will look for it and shows the new one it makes otherwise)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console

import stacks
from spec.loader import load_stack_config
from targets.plan.report import as_json, plan, render
from targets.up_summary import summary_lines
from tests.pulumi_helpers import with_volumes

ROOT = Path(__file__).resolve().parents[1]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6 plan"
GROUP = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/b/providers/Microsoft.Compute"
SNAPSHOT, DISK = f"{GROUP}/snapshots/s", f"{GROUP}/disks/d"


def inputs_of(result: Any, type_token: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in result.resources if r.type == type_token}


def test_an_aws_plan_shows_each_volume_as_up_treats_it_and_says_what_the_resources_cannot():
    env = with_volumes(load_stack_config("hpc-dev", ROOT), [
        {"name": "keep", "size_gb": 100, "mount": "/keep", "retain": True},
        {"name": "data", "mount": "/data", "from": {"volume_id": "vol-0a1b2c3d"}},
        {"name": "old", "mount": "/old", "from": {"snapshot_id": "snap-0a1b2c3d"}},
        {"name": "scratch", "size_gb": 500, "mount": "/scratch", "snapshot_on_destroy": True},
    ])
    result = plan(env, lambda: stacks.build(env, KEY))
    volumes = inputs_of(result, "aws:ebs/volume:Volume")
    assert sorted(volumes) == ["hpc-dev-keep", "hpc-dev-old", "hpc-dev-scratch"]  # none for the existing one
    assert volumes["hpc-dev-old"]["snapshotId"] == "snap-0a1b2c3d" and volumes["hpc-dev-scratch"]["finalSnapshot"]
    attached = {a["volumeId"] for a in inputs_of(result, "aws:ec2/volumeAttachment:VolumeAttachment").values()}
    assert "vol-0a1b2c3d" in attached and len(attached) == 4
    assert result.notes == [
        "storage.volumes[0] (keep): up attaches again the volume an earlier destroy kept, if there is one (a detached "
        "volume tagged chpc:environment=hpc-dev, chpc:volume=keep); offline none is known, so a new one is shown; "
        "destroy keeps it",
        "storage.volumes[1] (data): up attaches the existing volume vol-0a1b2c3d as it is (a file system on it is "
        "never formatted); destroy detaches it, never deletes it",
        "storage.volumes[2] (old): made from snapshot snap-0a1b2c3d",
        "storage.volumes[3] (scratch): destroy snapshots it, then deletes it; the snapshot is kept",
    ]
    assert json.loads(json.dumps(as_json(result)))["notes"] == result.notes
    out = io.StringIO()
    render(result, Console(file=out, width=400))
    assert all(f"note: {note}" in out.getvalue() for note in result.notes)
    assert [line for line in summary_lines(result, []) if line.startswith("note: ")] == [
        f"note: {note}" for note in result.notes]
    assert result.errors == []


def test_an_azure_plan_names_the_kept_group_it_looks_in_and_attaches_an_existing_disk():
    env = with_volumes(load_stack_config("azure-hpc-dev", ROOT), [
        {"name": "keep", "size_gb": 256, "mount": "/keep", "retain": True},
        {"name": "data", "mount": "/data", "from": {"disk_id": DISK}},
        {"name": "old", "mount": "/old", "from": {"snapshot_id": SNAPSHOT}},
    ])
    result = plan(env, lambda: stacks.build(env, KEY))
    disks = inputs_of(result, "azure-native:compute:Disk")
    assert sorted(disks) == ["azure-hpc-dev-keep", "azure-hpc-dev-old"]
    assert disks["azure-hpc-dev-keep"]["resourceGroupName"] == "azure-hpc-dev-retained-westeurope"
    assert disks["azure-hpc-dev-old"]["creationData"] == {"createOption": "Copy", "sourceResourceId": SNAPSHOT}
    [head] = inputs_of(result, "azure-native:compute:VirtualMachine").values()
    assert [d["managedDisk"]["id"] for d in head["storageProfile"]["dataDisks"]][1] == DISK
    assert result.notes[:2] == [
        "storage.volumes[0] (keep): up attaches again the volume an earlier destroy kept, if there is one (disk "
        "azure-hpc-dev-keep in resource group azure-hpc-dev-retained-westeurope); offline none is known, so a new "
        "one is shown; destroy keeps it",
        f"storage.volumes[1] (data): up attaches the existing volume {DISK} as it is (a file system on it is never "
        "formatted); destroy detaches it, never deletes it",
    ]


def test_volumes_up_makes_and_destroy_deletes_need_no_note():
    env = with_volumes(load_stack_config("hpc-dev", ROOT), [{"name": "scratch", "size_gb": 10, "mount": "/scratch"}])
    assert plan(env, lambda: stacks.build(env, KEY)).notes == []
