"""What one node mounts at boot, as the storage role's variables (ansible/site.yml documents them), built from
the volumes and the share the outputs contract exports: a node mounts at boot what ``invoke mount`` would mount,
so the user's road is ``up`` then ``run-mpi``. Every target builds them here, the local one per node and the
clouds per node role; on a cloud the values may still be Pulumi outputs (volume ids, the share's name), which the
component resolves before it renders the boot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

VOLUME_KEYS = ("name", "mount", "fs_type")
SHARED_KEYS = ("kind", "source", "mount", "options")


def storage_vars(volumes: Sequence[Mapping[str, Any]], shared: Mapping[str, Any] | None, *, owner: str,
                 persist: bool) -> dict[str, object]:
    """The role's variables for a node with ``volumes`` of its own and every node's ``shared`` file system, both
    as the contract exports them. A volume is found by its device path when it has one (a loop device, an Azure
    LUN), else by its volume id (EBS); the other is left out. ``owner``: the SSH user, who owns the share's
    toolkit folder; ``persist``: fstab lines, off where /etc/fstab is the host's."""
    return {
        "storage_volumes": [{**{key: volume[key] for key in VOLUME_KEYS}, **_locator(volume)} for volume in volumes],
        "storage_shared": {key: shared[key] for key in SHARED_KEYS if key in shared} if shared else None,
        "storage_owner": owner,
        "storage_persist": persist,
    }


def _locator(volume: Mapping[str, Any]) -> dict[str, Any]:
    if volume.get("device") is not None:
        return {"device": volume["device"]}
    if volume.get("volume_id") is not None:
        return {"volume_id": volume["volume_id"]}
    raise ValueError(f"volume {volume['name']}: neither a device nor a volume id to find it by at boot")
