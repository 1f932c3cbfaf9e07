"""Mounts for real: loop devices and bind mounts on this machine, driven through the loopback sshds.

Everything is created under the test's tmp dir (images, mount points, fstab); the fixture unmounts and
detaches whatever the test made, even when it fails.
"""

from __future__ import annotations

import getpass
import json
import os
import pwd
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest

from remote.errors import RemoteError
from remote.fanout import fan_out
from remote.mounts import MOUNT_SCRIPT, mount_shared, mount_status, mount_volume
from remote.mpi_job import require_shared
from remote.pool import Pool
from remote.run import run
from spec.outputs import SharedFs, Volume
from tests.disks import write_partition_table

ROOT = Path(__file__).resolve().parents[2]


def _mounts_under(base: Path) -> list[str]:
    """Mount points at or under ``base``, as they are named (JSON: findmnt's text form escapes blanks and
    backslashes, so a teardown matching on it would leave such a mount, and its loop device, behind)."""
    out = subprocess.run(["findmnt", "-J", "-l", "-o", "TARGET"], capture_output=True, text=True, check=True).stdout
    targets = [entry["target"] for entry in json.loads(out)["filesystems"]]
    return [t for t in targets if t == str(base) or t.startswith(f"{base}/")]


@pytest.fixture
def loopdev(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """``make(size_mb)`` attaches a sparse image under tmp_path to a free loop device."""
    made: list[tuple[str, Path]] = []

    def make(size_mb: int) -> str:
        image = tmp_path / f"disk{len(made)}.img"
        subprocess.run(["truncate", "-s", f"{size_mb}M", str(image)], check=True)
        dev = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True,
                             check=True).stdout.strip()
        made.append((dev, image))
        return dev

    try:
        yield make
    finally:
        for target in sorted(_mounts_under(tmp_path), key=len, reverse=True):
            if subprocess.run(["umount", target], check=False).returncode != 0:
                subprocess.run(["umount", "-l", target], check=False)
        for dev, image in made:
            subprocess.run(["losetup", "-d", dev], check=False)
            image.unlink(missing_ok=True)


@pytest.fixture
def unmount_after(tmp_path: Path) -> Iterator[None]:
    try:
        yield
    finally:
        for target in sorted(_mounts_under(tmp_path), key=len, reverse=True):
            if subprocess.run(["umount", target], check=False).returncode != 0:
                subprocess.run(["umount", "-l", target], check=False)


def test_volume_is_formatted_once_and_never_again(
    pool: Pool, loopdev: Callable[[int], str], tmp_path: Path
) -> None:
    dev = loopdev(64)
    mnt = tmp_path / "mnt" / "scratch"
    fstab = tmp_path / "fstab"
    fstab.write_text("# <file system> <mount point> <type>\nproc /proc proc defaults 0 0\n")
    volume = Volume(name="scratch", node="compute-0", mount=str(mnt), device=dev, fs_type="ext4")
    client = pool.client("compute-0")

    first = mount_volume(client, "compute-0", volume, True, fstab=str(fstab))
    assert (first.formatted, first.already_mounted, first.fs_type, first.note) == (True, False, "ext4", "")
    assert first.source == dev
    run(client, f"echo precious > {mnt}/data.txt", step="write")

    again = mount_volume(client, "compute-0", volume, True, fstab=str(fstab))
    assert (again.formatted, again.already_mounted) == (False, True)

    run(client, ["umount", str(mnt)], step="umount")
    remount = mount_volume(client, "compute-0", volume, True, fstab=str(fstab))
    assert (remount.formatted, remount.already_mounted, remount.fs_type) == (False, False, "ext4")
    assert (mnt / "data.txt").read_text() == "precious\n"

    lines = fstab.read_text().splitlines()
    ours = [ln for ln in lines if ln.split()[1:2] == [str(mnt)]]
    assert len(ours) == 1, lines
    uuid = subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", dev], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert ours[0].split() == [f"UUID={uuid}", str(mnt), "ext4", "defaults,nofail", "0", "2"]
    assert lines[:2] == ["# <file system> <mount point> <type>", "proc /proc proc defaults 0 0"]


def test_existing_other_filesystem_is_not_reformatted(
    pool: Pool, loopdev: Callable[[int], str], tmp_path: Path
) -> None:
    dev = loopdev(320)  # mkfs.xfs needs 300 MB (the image is sparse)
    subprocess.run(["mkfs.xfs", "-q", dev], check=True)
    seed = tmp_path / "seed"
    seed.mkdir()
    subprocess.run(["mount", dev, str(seed)], check=True)
    (seed / "keep.txt").write_text("xfs data\n")
    subprocess.run(["umount", str(seed)], check=True)

    volume = Volume(name="data", node="head", mount=str(tmp_path / "data"), device=dev, fs_type="ext4")
    result = mount_volume(pool.head(), "head", volume, False)
    assert (result.formatted, result.fs_type) == (False, "xfs")
    assert result.note == f"{dev} already holds xfs (the outputs say ext4); mounted as it is, not reformatted"
    assert (result.mount, result.source) == (volume.mount, dev)
    assert (tmp_path / "data" / "keep.txt").read_text() == "xfs data\n"


def test_partitioned_disk_is_refused(pool: Pool, loopdev: Callable[[int], str], tmp_path: Path) -> None:
    dev = loopdev(64)
    write_partition_table(dev)
    volume = Volume(name="odd", node="head", mount=str(tmp_path / "odd"), device=dev)
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume, False)
    assert "partition table" in str(caught.value) and caught.value.step == "mount volume odd"
    probe = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", dev], capture_output=True, text=True)
    assert probe.stdout.strip() == ""  # still no file system on it


def _ambivalent(dev: str, tmp_path: Path) -> None:
    """Make ``dev`` an xfs file system that still carries an old ext4 superblock (at byte 1024, which xfs does not
    use for its own): ``blkid -p`` then finds two file systems, prints no TYPE and exits 8."""
    old = tmp_path / "old-ext4.img"
    subprocess.run(["truncate", "-s", "8M", str(old)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(old)], check=True)
    subprocess.run(["mkfs.xfs", "-q", "-f", dev], check=True)
    superblock = old.read_bytes()[1024:2048]
    with open(dev, "r+b") as disk:
        disk.seek(1024)
        disk.write(superblock)


def _head_of(dev: str) -> bytes:
    with open(dev, "rb") as disk:
        return disk.read(1 << 20)


def test_a_volume_whose_probe_is_ambivalent_is_refused_and_never_formatted(
    pool: Pool, loopdev: Callable[[int], str], tmp_path: Path
) -> None:
    dev = loopdev(320)  # mkfs.xfs needs 300 MB (the image is sparse)
    _ambivalent(dev, tmp_path)
    probe = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", dev], capture_output=True, text=True)
    assert (probe.returncode, probe.stdout) == (8, "")
    before = _head_of(dev)

    volume = Volume(name="twofs", node="head", mount=str(tmp_path / "twofs"), device=dev, fs_type="ext4")
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume, False)
    assert caught.value.step == "mount volume twofs"
    assert f"blkid -p {dev} failed (exit 8); not formatting it" in str(caught.value)
    assert _head_of(dev) == before
    assert _mounts_under(tmp_path) == []


def test_a_mount_point_holding_another_device_is_refused_not_taken_as_mounted(
    pool: Pool, loopdev: Callable[[int], str], tmp_path: Path
) -> None:
    ours, other = loopdev(64), loopdev(64)
    subprocess.run(["mkfs.ext4", "-q", "-F", other], check=True)
    mnt = tmp_path / "busy"
    mnt.mkdir()
    subprocess.run(["mount", other, str(mnt)], check=True)

    volume = Volume(name="busy", node="head", mount=str(mnt), device=ours, fs_type="ext4")
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume, False)
    assert caught.value.step == "mount volume busy"
    assert f"{mnt} already has {other} mounted, not {ours}" in str(caught.value)
    probe = subprocess.run(["blkid", "-p", ours], capture_output=True, text=True)
    assert probe.returncode == 2  # ours is still blank: not formatted, not mounted anywhere


def test_unknown_volume_id_names_the_volume(pool: Pool, tmp_path: Path) -> None:
    volume = Volume(name="gone", node="compute-1", mount=str(tmp_path / "gone"), volume_id="vol-0nothere000")
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.client("compute-1"), "compute-1", volume, False)
    err = caught.value
    assert err.node == "compute-1" and "vol-0nothere000" in str(err) and "attached" in err.hint
    assert "hint" not in err.hint and "hint" not in err.detail  # the script's "hint: " line is the hint alone


def test_bind_shared_mount_everywhere(pool: Pool, tmp_path: Path, unmount_after: None) -> None:
    source = tmp_path / "export"
    source.mkdir()
    (source / "hello.txt").write_text("shared\n")
    names = ["head", "compute-0", "compute-1", "compute-2", "compute-3"]

    def mount_it(client: paramiko.SSHClient, name: str) -> tuple[bool, bool]:
        # every "node" is this machine, so each gets its own mount point here
        shared = SharedFs(kind="bind", source=str(source), mount=str(tmp_path / "shared" / name))
        fstab = str(tmp_path / f"fstab-{name}")  # each real node has its own /etc/fstab
        first = mount_shared(client, name, shared, True, owner=getpass.getuser(), fstab=fstab)
        second = mount_shared(client, name, shared, True, owner=getpass.getuser(), fstab=fstab)
        return first.already_mounted, second.already_mounted

    assert fan_out(pool, names, mount_it, step="mount shared") == dict.fromkeys(names, (False, True))
    for name in names:
        assert (tmp_path / "shared" / name / "hello.txt").read_text() == "shared\n"
    status = {e.target: e for e in mount_status(pool.head())}
    assert str(tmp_path / "shared" / "compute-2") in status
    for name in names:
        lines = (tmp_path / f"fstab-{name}").read_text().splitlines()
        assert lines == [f"{source} {tmp_path / 'shared' / name} none bind,nofail 0 0"]


def test_the_toolkit_folder_on_the_share_belongs_to_the_ssh_user(pool: Pool, tmp_path: Path,
                                                                 unmount_after: None) -> None:
    """As on EFS mounted by root for ec2-user: the SSH user (here nobody) gets .chpc, 0700, and keeps it."""
    source = tmp_path / "export"
    (source / ".chpc").mkdir(parents=True)  # made by root before, as a root-owned share would have it
    (source / ".chpc").chmod(0o755)
    shared = SharedFs(kind="bind", source=str(source), mount=str(tmp_path / "shared"))
    nobody = pwd.getpwnam("nobody")

    first = mount_shared(pool.head(), "head", shared, owner="nobody")
    again = mount_shared(pool.head(), "head", shared, owner="nobody")

    assert (first.already_mounted, again.already_mounted) == (False, True)
    folder = os.stat(tmp_path / "shared" / ".chpc")
    assert (folder.st_uid, folder.st_gid) == (nobody.pw_uid, nobody.pw_gid)  # the user and its login group
    assert stat.S_IMODE(folder.st_mode) == 0o700
    assert (source / ".chpc").stat().st_ino == folder.st_ino  # on the share itself, not under the mount point


def test_an_unknown_ssh_user_is_named_with_what_to_do(pool: Pool, tmp_path: Path, unmount_after: None) -> None:
    (tmp_path / "export").mkdir()
    shared = SharedFs(kind="bind", source=str(tmp_path / "export"), mount=str(tmp_path / "shared"))
    with pytest.raises(RemoteError) as caught:
        mount_shared(pool.client("compute-1"), "compute-1", shared, owner="no-such-user")
    err = caught.value
    assert err.node == "compute-1" and "cannot make" in str(err) and "owned by no-such-user" in str(err)
    assert "root squash" in err.hint


def test_missing_bind_source_is_explained(pool: Pool, tmp_path: Path) -> None:
    shared = SharedFs(kind="bind", source=str(tmp_path / "absent"), mount=str(tmp_path / "m"))
    with pytest.raises(RemoteError) as caught:
        mount_shared(pool.head(), "head", shared, owner="root")
    assert "does not exist" in str(caught.value) and caught.value.hint
    assert caught.value.step == "mount shared"


def test_relative_mount_point_is_rejected(pool: Pool) -> None:
    with pytest.raises(RemoteError):
        mount_shared(pool.head(), "head", SharedFs(kind="bind", source="/tmp", mount="relative/path"), owner="root")


def test_mount_runs_the_storage_roles_script_file(pool: Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One source of truth: what `invoke mount` runs is the file the role runs at boot, read when it runs."""
    assert MOUNT_SCRIPT == ROOT / "ansible" / "roles" / "storage" / "files" / "mount.sh"
    assert "files/mount.sh" in (ROOT / "ansible" / "roles" / "storage" / "tasks" / "main.yml").read_text()
    edited = tmp_path / "mount.sh"
    edited.write_text(MOUNT_SCRIPT.read_text().replace("no block device for volume", "no disk (edited copy) for"))
    monkeypatch.setattr("remote.mounts.MOUNT_SCRIPT", edited)
    volume = Volume(name="gone", node="head", mount=str(tmp_path / "gone"), volume_id="vol-0nothere000")
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume, False)
    assert "no disk (edited copy) for vol-0nothere000" in str(caught.value)


def test_remote_holds_no_copy_of_the_script() -> None:
    script_lines = {line.strip() for line in MOUNT_SCRIPT.read_text().splitlines()}
    commands = {line for line in script_lines if len(line) > 20 and not line.startswith("#")}
    for module in (ROOT / "remote").glob("*.py"):
        text = module.read_text()
        assert not [line for line in commands if line in text], module


def test_a_device_with_no_medium_is_never_formatted(pool: Pool, tmp_path: Path) -> None:
    """A loop device with no file behind it (size 0): blkid finds no signature there, but it is no blank disk."""
    def unbound(minor: int) -> bool:  # far above what `losetup -f` hands out; made on open, then left unbound
        size = Path(f"/sys/block/loop{minor}/size")
        return not size.exists() or size.read_text().strip() == "0"

    unused = next(minor for minor in range(250, 200, -1) if unbound(minor))
    device = tmp_path / "loop-unbound"
    subprocess.run(["mknod", str(device), "b", "7", str(unused)], check=True)
    volume = Volume(name="empty", node="head", mount=str(tmp_path / "empty"), device=str(device))
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume, False)
    assert "has no medium (size 0)" in str(caught.value) and "not attached" in caught.value.hint
    assert not (tmp_path / "empty").exists()


def test_a_job_finding_no_shared_file_system_says_the_boot_mounts_it(pool: Pool, tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as caught:
        require_shared(pool, str(tmp_path))
    err = caught.value
    assert f"{tmp_path} is not mounted" in err.detail and "when they boot" in err.detail
    assert "boot log" in err.hint and "`invoke mount` mounts it again" in err.hint


def test_a_volume_with_neither_device_nor_id_is_refused(pool: Pool, tmp_path: Path) -> None:
    volume = Volume(name="bare", node="head", mount=str(tmp_path / "bare"))
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume, False)
    assert caught.value.detail == "a volume needs a device or a volume id"


def test_without_persist_fstab_is_left_alone(pool: Pool, loopdev: Callable[[int], str], tmp_path: Path,
                                            unmount_after: None) -> None:
    """persist is off unless asked for: neither mount writes the fstab it is given."""
    fstab = tmp_path / "fstab"
    fstab.write_text("proc /proc proc defaults 0 0\n")
    volume = Volume(name="tmpvol", node="head", mount=str(tmp_path / "vol"), device=loopdev(64))
    (tmp_path / "export").mkdir()
    shared = SharedFs(kind="bind", source=str(tmp_path / "export"), mount=str(tmp_path / "shared"))

    assert mount_volume(pool.head(), "head", volume, fstab=str(fstab)).formatted
    assert not mount_shared(pool.head(), "head", shared, owner="root", fstab=str(fstab)).already_mounted

    assert fstab.read_text() == "proc /proc proc defaults 0 0\n"


def test_a_bind_source_with_an_equals_sign_is_reported_as_it_is(pool: Pool, tmp_path: Path,
                                                               unmount_after: None) -> None:
    """The script's ``key=value`` lines split at the first ``=`` only: a value may hold more."""
    source = tmp_path / "export=a=b"
    source.mkdir()
    shared = SharedFs(kind="bind", source=str(source), mount=str(tmp_path / "shared"))
    result = mount_shared(pool.head(), "head", shared, owner="root")
    assert (result.mount, result.source, result.fs_type) == (shared.mount, str(source), "bind")


def test_mount_status_unescapes_what_findmnt_escapes(pool: Pool, loopdev: Callable[[int], str], tmp_path: Path,
                                                     unmount_after: None) -> None:
    """findmnt -r writes a space as \\x20 and a backslash as \\x5c: the entry holds the real path."""
    dev = loopdev(64)
    subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True)
    mnt = tmp_path / "odd name\\here"
    mnt.mkdir()
    subprocess.run(["mount", dev, str(mnt)], check=True)
    entries = [entry for entry in mount_status(pool.head()) if entry.target.startswith(str(tmp_path))]
    assert entries == [(str(mnt), dev, "ext4")]


def _failing_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stderr_lines: list[str]) -> None:
    """The storage role's script replaced by one that writes these lines to stderr and exits 3."""
    edited = tmp_path / "failing-mount.sh"
    edited.write_text("".join(f"echo '{line}' >&2\n" for line in stderr_lines) + "exit 3\n")
    monkeypatch.setattr("remote.mounts.MOUNT_SCRIPT", edited)


def test_a_failure_keeps_the_last_eight_lines_and_the_last_hint(pool: Pool, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"line {n}" for n in range(1, 11)]
    _failing_script(tmp_path, monkeypatch, [*lines[:5], "hint: first hint", *lines[5:], "hint: last hint"])
    shared = SharedFs(kind="bind", source=str(tmp_path), mount=str(tmp_path / "m"))
    with pytest.raises(RemoteError) as caught:
        mount_shared(pool.head(), "head", shared, owner="root")
    assert (caught.value.detail, caught.value.hint) == ("\n".join(lines[2:]), "last hint")


def test_a_failure_without_a_hint_gets_the_default_one(pool: Pool, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_script(tmp_path, monkeypatch, ["the password file is unreadable"])
    volume = Volume(name="v", node="head", mount=str(tmp_path / "v"), device="/dev/null")
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume)
    assert caught.value.detail == "the password file is unreadable"
    assert caught.value.hint == "see the error above; nothing is formatted unless it was empty"


def test_sudo_asking_for_a_password_says_what_the_user_needs(pool: Pool, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_script(tmp_path, monkeypatch, ["sudo: a password is required", "hint: not this one"])
    volume = Volume(name="v", node="head", mount=str(tmp_path / "v"), device="/dev/null")
    with pytest.raises(RemoteError) as caught:
        mount_volume(pool.head(), "head", volume)
    assert caught.value.hint == "the SSH user needs passwordless sudo on the node"
