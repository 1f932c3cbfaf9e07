"""Mount the shared file system and the block volumes on one node (call it per node through fan_out).

Each mount is one run of the storage role's ``mount.sh`` (the script the nodes run at boot) in one SSH round
trip, as root (through ``sudo -n`` when the SSH user is not root). The script is safe to run again: an existing
mount is left alone, an existing file system is NEVER formatted (only a device with no signature at all is),
and the optional fstab line is keyed by the mount point, so it is replaced, not duplicated. Here it never waits:
a volume that is not attached fails at once, with what to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import paramiko

from remote import deadlines
from remote.errors import RemoteError
from remote.run import as_root, run, tail
from spec.outputs import SharedFs, Volume

MOUNT_SCRIPT = Path(__file__).resolve().parents[1] / "ansible" / "roles" / "storage" / "files" / "mount.sh"
# The toolkit's folder on the shared file system (job folders, their scripts, outputs and locks); mount.sh
# makes it, owned by the SSH user.
TOOLKIT_DIR = ".chpc"
NO_WAIT = "0"


@dataclass(frozen=True)
class MountResult:
    """What a mount call did: ``formatted`` (a new file system was made), ``already_mounted``."""

    mount: str
    source: str
    fs_type: str
    formatted: bool = False
    already_mounted: bool = False
    note: str = ""


class MountEntry(NamedTuple):
    target: str
    source: str
    fstype: str


def _fields(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def _run_script(client: paramiko.SSHClient, node: str, step: str, args: list[str]) -> dict[str, str]:
    """Run mount.sh with ``args``; its failure is a RemoteError with the script's own hint line."""
    script = MOUNT_SCRIPT.read_text()
    result = run(client, as_root(["sh", "-c", script, "mount.sh", *args]), node=node, step=step, check=False,
                 timeout=deadlines.MOUNT)
    if result.exit_code != 0:
        lines = result.stderr.splitlines()
        hints = [line.removeprefix("hint: ") for line in lines if line.startswith("hint: ")]
        detail = tail("\n".join(line for line in lines if not line.startswith("hint: ")), 8)
        hint = hints[-1] if hints else "see the error above; nothing is formatted unless it was empty"
        if "sudo" in result.stderr and "password" in result.stderr:
            hint = "the SSH user needs passwordless sudo on the node"
        raise RemoteError(node, step, detail or f"exit {result.exit_code}", hint)
    return _fields(result.stdout)


def mount_volume(
    client: paramiko.SSHClient, node: str, volume: Volume, persist: bool = False, *, fstab: str = "/etc/fstab"
) -> MountResult:
    """Format (only if blank) and mount one volume; idempotent. ``fstab`` is overridable for tests.

    The device is ``volume.device`` as given, or ``volume.volume_id`` found under /dev/disk/by-id
    (``nvme-Amazon_Elastic_Block_Store_<id without dash>``, else any entry containing the id). A device
    with any file system is mounted as it is, even if that is not ``volume.fs_type`` (the result's
    ``note`` says so). With ``persist`` an ``UUID=... nofail`` line keyed by the mount point goes to fstab.
    """
    args = ["volume", volume.device or "", volume.volume_id or "", volume.mount, volume.fs_type,
            "1" if persist else "0", fstab, NO_WAIT]
    fields = _run_script(client, node, f"mount volume {volume.name}", args)
    fs_type = fields.get("fs_type", "")
    note = ""
    if fs_type != volume.fs_type:
        note = (f"{fields.get('device', '')} already holds {fs_type} (the outputs say {volume.fs_type}); "
                "mounted as it is, not reformatted")
    return MountResult(
        mount=volume.mount,
        source=fields.get("device", ""),
        fs_type=fs_type,
        formatted=fields.get("formatted") == "1",
        already_mounted=fields.get("already_mounted") == "1",
        note=note,
    )


def mount_shared(
    client: paramiko.SSHClient,
    node: str,
    shared: SharedFs,
    persist: bool = False,
    *,
    owner: str,
    fstab: str = "/etc/fstab",
) -> MountResult:
    """Mount the shared file system at ``shared.mount``; a mount point already mounted is left alone.

    bind: ``mount --bind SOURCE MOUNT``. efs: NFS 4.1 with the options efs-utils gives, from ``127.0.0.1:/``
    through the node's TLS tunnel to SOURCE (the file system's DNS name), which the storage role configured and
    the script starts again if it is down; with no tunnel configured it fails rather than mount plain NFS, which
    the file system refuses. nfs: ``mount -t nfs4`` with ``shared.options``. ``shared.options`` is appended for
    efs and ignored for bind. With ``persist`` a line keyed by the mount point goes to fstab (``nofail``).

    Then ``MOUNT/.chpc`` is made (or set again) owned by ``owner`` (the SSH user, with its login group) and
    mode 0700: jobs write there as the SSH user, and the root of an EFS or Azure Files NFS share belongs to
    root, so ec2-user or azureuser could not create it. This is the step that mounts the share, so it is the
    one place where the folder can be made on it (the storage role, mounting at boot, runs the same script).
    """
    args = ["shared", shared.kind, shared.source, shared.mount, shared.options, "1" if persist else "0", fstab,
            owner, NO_WAIT]
    fields = _run_script(client, node, "mount shared", args)
    return MountResult(
        mount=shared.mount,
        source=fields.get("source", shared.source),
        fs_type=fields.get("fs_type", ""),
        already_mounted=fields.get("already_mounted") == "1",
    )


def _unescape(text: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def mount_status(client: paramiko.SSHClient, *, node: str | None = None) -> list[MountEntry]:
    """Every mount on the node as (mount point, source, fstype), from ``findmnt -rn``."""
    result = run(client, ["findmnt", "-rn", "-o", "TARGET,SOURCE,FSTYPE"], node=node, step="findmnt")
    entries = []
    for line in result.stdout.splitlines():
        parts = line.split(" ")
        if len(parts) >= 3:
            entries.append(MountEntry(_unescape(parts[0]), _unescape(parts[1]), _unescape(parts[2])))
    return entries
