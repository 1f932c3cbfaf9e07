"""Mount an environment's storage on every node at once: the shared file system and each volume."""

from __future__ import annotations

import paramiko
from rich.console import Console

from remote.errors import ConnectionLost
from remote.fanout import fan_out
from remote.mounts import MountResult, mount_shared, mount_volume
from remote.pool import Pool


def describe(result: MountResult) -> str:
    what = "already mounted" if result.already_mounted else "formatted and mounted" if result.formatted \
        else "mounted"
    return f"{result.mount}: {result.source} ({result.fs_type}) {what}" + (f"; {result.note}" if result.note else "")


def mount_all(pool: Pool, console: Console | None = None) -> dict[str, list[str]]:
    """One worker per node, each node's progress on ``console``; fstab persistence only where the node owns its
    /etc/fstab (not local). The shared file system's toolkit folder belongs to the SSH user, who runs the jobs. A node
    whose connection drops is mounted again on a new one, once."""
    outputs = pool.outputs
    persist = outputs.target != "local"

    def mount_node(client: paramiko.SSHClient, name: str) -> list[str]:
        try:
            return mount_each(client, name)
        except ConnectionLost:
            # mount.sh is safe to run again: it waits for a run still at work on the node (the one whose connection
            # dropped), leaves what is mounted alone and never formats a device holding a file system
            pool.reset(name)
        try:
            return mount_each(pool.client(name), name)
        except ConnectionLost as again:
            raise ConnectionLost(name, again.step, again.detail,
                                 "run `invoke mount` again once the node answers: it mounts only what is missing "
                                 "and never formats a volume that has a file system") from again

    def mount_each(client: paramiko.SSHClient, name: str) -> list[str]:
        lines = []
        if outputs.shared:
            lines.append(describe(mount_shared(client, name, outputs.shared, persist, owner=outputs.ssh_user)))
        for volume in outputs.volumes:
            if volume.node == name:
                lines.append(describe(mount_volume(client, name, volume, persist)))
        return lines

    names = [node.name for node in outputs.nodes()]
    return fan_out(pool, names, mount_node, step="mount", console=console)
