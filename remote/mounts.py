"""Mount the shared file system and the block volumes on one node (call it per node through fan_out).

Each mount is one shell script in one SSH round trip, written to be run again safely: an existing
mount is left alone, an existing file system is NEVER formatted (only a device with no signature at
all is), and the optional fstab line is keyed by the mount point, so it is replaced, not duplicated.
The scripts run as root (through ``sudo -n`` when the SSH user is not root).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import NamedTuple

import paramiko

from remote.errors import RemoteError
from remote.run import run, tail
from spec.outputs import SharedFs, Volume

EBS_BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"
EFS_NFS_OPTIONS = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
# The toolkit's folder on the shared file system (job folders, their scripts, outputs and locks).
TOOLKIT_DIR = ".chpc"


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


_COMMON = r"""
set -eu
fail() { code=$1; shift; echo "$*" >&2; exit "$code"; }
persist_line() {  # replace the fstab line whose mount point is $2 by "$@"
  line="$*"; tmp="$fstab.toolkit.$$"
  { if [ -f "$fstab" ]; then awk -v m="$2" '$2 != m' "$fstab"; fi; echo "$line"; } > "$tmp"
  chmod 644 "$tmp"; mv "$tmp" "$fstab"
}
"""

_VOLUME_SCRIPT = _COMMON + r"""
dev=$1 volid=$2 mnt=$3 want=$4 persist=$5 fstab=$6
if [ -z "$dev" ]; then
  bare=$(printf '%s' "$volid" | tr -d -)
  for cand in "__EBS__$bare" /dev/disk/by-id/*"$volid"* /dev/disk/by-id/*"$bare"*; do
    case "$cand" in *-part[0-9]*) continue ;; esac
    if [ -e "$cand" ]; then dev=$cand; break; fi
  done
  [ -n "$dev" ] || fail 10 "no block device for volume $volid under /dev/disk/by-id"
fi
[ -b "$dev" ] || fail 11 "$dev is not a block device"
real=$(readlink -f "$dev")
formatted=0 already=0
if mountpoint -q "$mnt" 2>/dev/null; then
  src=$(findmnt -rn -o SOURCE --mountpoint "$mnt" | head -n 1)
  [ "$(readlink -f "$src")" = "$real" ] || fail 12 "$mnt already has $src mounted, not $dev"
  fs=$(findmnt -rn -o FSTYPE --mountpoint "$mnt" | head -n 1)
  already=1
else
  # -p probes the device itself (no blkid cache). Exit 2 with no output: no signature at all.
  rc=0; fs=$(blkid -p -o value -s TYPE "$real") || rc=$?
  if [ -z "$fs" ]; then
    pt=$(blkid -p -o value -s PTTYPE "$real" 2>/dev/null) || true
    [ -z "$pt" ] || fail 13 "$dev holds a $pt partition table and no file system; not formatting it"
    [ "$rc" -eq 2 ] || fail 14 "blkid -p $dev failed (exit $rc); not formatting it"
    case "$want" in
      xfs) mkfs.xfs -q "$real" >&2 ;;
      *) mkfs.ext4 -q "$real" >&2 < /dev/null ;;
    esac
    formatted=1 fs=$want
  fi
  mkdir -p "$mnt"
  mount -t "$fs" "$real" "$mnt" || fail 15 "mount -t $fs $dev $mnt failed"
fi
if [ "$persist" = 1 ]; then
  uuid=$(blkid -p -o value -s UUID "$real") || true
  [ -n "$uuid" ] || fail 16 "$dev has no file system UUID for $fstab"
  pass=2; [ "$fs" = xfs ] && pass=0
  persist_line "UUID=$uuid" "$mnt" "$fs" defaults,nofail 0 "$pass"
fi
echo "device=$real"; echo "fs_type=$fs"; echo "formatted=$formatted"; echo "already_mounted=$already"
""".replace("__EBS__", EBS_BY_ID)

_SHARED_SCRIPT = _COMMON + r"""
kind=$1 src=$2 mnt=$3 opts=$4 persist=$5 fstab=$6 owner=$7
case "$kind" in
  bind) type=bind o=bind ;;
  efs)
    if [ -x /sbin/mount.efs ]; then type=efs o=tls,iam${opts:+,$opts}
    else
      type=nfs4 o=__EFS_NFS__${opts:+,$opts}
      case "$src" in *:*) ;; *) src="$src:/" ;; esac
    fi ;;
  nfs) type=nfs4 o=$opts ;;
  *) fail 20 "unknown shared file system kind $kind" ;;
esac
already=0
mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
  already=1
else
  if [ "$kind" = bind ]; then
    [ -e "$src" ] || fail 21 "bind source $src does not exist"
    mount --bind "$src" "$mnt" || fail 22 "mount --bind $src $mnt failed"
  elif [ -n "$o" ]; then mount -t "$type" -o "$o" "$src" "$mnt" || fail 22 "mounting $src on $mnt failed"
  else mount -t "$type" "$src" "$mnt" || fail 22 "mounting $src on $mnt failed"; fi
fi
if [ "$persist" = 1 ]; then
  fo=${o:-defaults} ft=$type
  if [ "$kind" = bind ]; then ft=none; else fo="$fo,_netdev"; fi
  persist_line "$src" "$mnt" "$ft" "$fo,nofail" 0 0
fi
home="$mnt/__TOOLKIT_DIR__"
{ mkdir -p "$home" && chown "$owner:" "$home" && chmod 0700 "$home"; } || \
  fail 23 "cannot make $home owned by $owner with mode 0700"
echo "source=$src"; echo "fs_type=$type"; echo "already_mounted=$already"
""".replace("__EFS_NFS__", EFS_NFS_OPTIONS).replace("__TOOLKIT_DIR__", TOOLKIT_DIR)

_HINTS = {
    10: "check the volume id in the outputs and that the volume is attached to this node",
    11: "check the device path in the outputs",
    12: "unmount what is on the mount point, or change the volume's mount in the outputs",
    13: "the disk was partitioned by someone else; wipe it by hand if its data is not needed",
    14: "check the device; nothing was changed on it",
    15: "see the mount error above; `dmesg` on the node may say more",
    16: "the file system has no UUID; check it with blkid",
    20: "use kind bind, efs or nfs in the outputs",
    21: "create the source directory on the node first",
    22: "see the mount error above; for NFS/EFS check the security group allows port 2049 from the node",
    23: "the SSH user must exist on the node and root must be allowed to write the share (EFS: "
        "elasticfilesystem:ClientRootAccess; Azure Files NFS: root squash off), or create the folder by hand",
}


def _check_path(node: str, step: str, label: str, path: str) -> None:
    if not path.startswith("/") or re.search(r"[\s\\]", path):
        raise RemoteError(node, step, f"{label} {path!r} must be an absolute path without spaces or "
                          "backslashes", "fix the outputs")


def _as_root(argv: list[str]) -> str:
    command = shlex.join(argv)
    return f'if [ "$(id -u)" = 0 ]; then {command}; else sudo -n {command}; fi'


def _fields(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def _run_script(
    client: paramiko.SSHClient, node: str, step: str, script: str, args: list[str]
) -> dict[str, str]:
    result = run(client, _as_root(["sh", "-c", script, step, *args]), node=node, step=step, check=False)
    if result.exit_code != 0:
        hint = _HINTS.get(result.exit_code, "see the error above; nothing is formatted unless it was empty")
        if "sudo" in result.stderr and "password" in result.stderr:
            hint = "the SSH user needs passwordless sudo on the node"
        raise RemoteError(node, step, tail(result.stderr, 8) or f"exit {result.exit_code}", hint)
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
    step = f"mount volume {volume.name}"
    _check_path(node, step, "mount point", volume.mount)
    if not volume.device and not volume.volume_id:
        raise RemoteError(node, step, f"volume {volume.name} has neither device nor volume_id",
                          "fix the outputs")
    persist_flag = "1" if persist else "0"
    args = [volume.device or "", volume.volume_id or "", volume.mount, volume.fs_type, persist_flag, fstab]
    fields = _run_script(client, node, step, _VOLUME_SCRIPT, args)
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

    bind: ``mount --bind SOURCE MOUNT``. efs: ``mount -t efs -o tls,iam`` when amazon-efs-utils is
    installed (/sbin/mount.efs), else NFS 4.1 with the options AWS recommends (SOURCE ``host`` gets
    ``:/``). nfs: ``mount -t nfs4`` with ``shared.options``. ``shared.options`` is appended for efs and
    ignored for bind. With ``persist`` a line keyed by the mount point goes to fstab (``nofail``).

    Then ``MOUNT/.chpc`` is made (or set again) owned by ``owner`` (the SSH user, with its login group) and
    mode 0700: jobs write there as the SSH user, and the root of an EFS or Azure Files NFS share belongs to
    root, so ec2-user or azureuser could not create it. This is the step that mounts the share, so it is the
    one place where the folder can be made on it (the ansible storage role runs at boot, before any mount).
    """
    step = "mount shared"
    _check_path(node, step, "mount point", shared.mount)
    args = [shared.kind, shared.source, shared.mount, shared.options, "1" if persist else "0", fstab, owner]
    fields = _run_script(client, node, step, _SHARED_SCRIPT, args)
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
