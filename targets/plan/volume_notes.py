"""What the offline plan says about the head's volumes beyond its resources: which `up` attaches rather than makes,
and what destroy does with each. The plan has no credentials, so it cannot know whether an earlier destroy kept a
volume: it says that `up` looks for one (and where), and shows the volume `up` makes when none is found."""

from __future__ import annotations

from components.azure.disk_lookup import kept_group_name
from spec.environment import Environment, Volume
from spec.outputs import ENVIRONMENT_TAG, VOLUME_TAG


def volume_notes(env: Environment) -> list[str]:
    """One line per volume that is not simply made by `up` and deleted by destroy."""
    notes = []
    for index, volume in enumerate(env.storage.volumes):
        at = f"storage.volumes[{index}] ({volume.name})"
        source = volume.from_
        if source and source.existing:
            notes.append(f"{at}: up attaches the existing volume {source.existing} as it is (a file system on it is "
                         "never formatted); destroy detaches it, never deletes it")
            continue
        if volume.retain:
            notes.append(f"{at}: up attaches again the volume an earlier destroy kept, if there is one "
                         f"({_where_kept(env, volume)}); offline none is known, so a new one is shown; destroy "
                         "keeps it")
        if source and source.snapshot_id:
            notes.append(f"{at}: made from snapshot {source.snapshot_id}")
        if volume.snapshot_on_destroy:
            notes.append(f"{at}: destroy snapshots it, then deletes it; the snapshot is kept")
    return notes


def _where_kept(env: Environment, volume: Volume) -> str:
    if env.target == "azure":
        assert env.region is not None  # the spec requires it for target azure
        return f"disk {env.name}-{volume.name} in resource group {kept_group_name(env.name, env.region)}"
    return f"a detached volume tagged {ENVIRONMENT_TAG}={env.name}, {VOLUME_TAG}={volume.name}"
