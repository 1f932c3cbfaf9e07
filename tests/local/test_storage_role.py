"""The storage role mounting at boot, for real, inside one local-target node (namespaces of its own, the host's
/dev): ``ansible/boot.sh VARS --tags storage`` with loop devices for volumes and a folder for the bind share.

The node gets an /etc of its own (an overlay on the host's, inside its mount namespace), as a cloud node owns its
/etc/fstab, so the fstab lines are checked too. Everything lies under one folder of /var/tmp (the node's /tmp is its
own); killing the node's init drops its mounts, then the loop devices are detached.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from remote.mounts import TOOLKIT_DIR
from targets.local import node, target, volumes
from targets.local.journal import Journal
from tests.disks import write_partition_table
from tests.local.harness import ROOT, run_name

pytestmark = pytest.mark.local_cluster

NODE = "node"
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@dataclass(frozen=True)
class Node:
    pid: int
    base: Path  # a folder the host and the node both see
    fstab: Path  # the node's /etc/fstab, seen from the host


@pytest.fixture(scope="module")
def booted() -> Iterator[Node]:
    """One node (no network beyond loopback, no sshd: the role needs neither), always taken down."""
    name = run_name("stor")
    base = Path(tempfile.mkdtemp(prefix="chpc-storage-", dir="/var/tmp"))
    netns = f"chpc-{name}-{NODE}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    pid = None
    try:
        node.prepare(base / "node", NODE, f"127.0.0.1 localhost {NODE}\n")
        pid = node.start(name, NODE, base / "node", keep=[ROOT, Path(sys.prefix)])
        etc = base / "etc"  # the node's changes to /etc land in etc/upper (overlayfs): /etc/fstab is its own
        (etc / "upper").mkdir(parents=True)
        (etc / "work").mkdir()
        (etc / "upper" / "fstab").write_text("proc /proc proc defaults 0 0\n")
        node.run(pid, ["mount", "-t", "overlay", "overlay", "-o",
                       f"lowerdir=/etc,upperdir={etc}/upper,workdir={etc}/work", "/etc"], "private /etc")
        yield Node(pid, base, etc / "upper" / "fstab")
    finally:
        if pid is not None:
            node.kill(pid)
        subprocess.run(["ip", "netns", "del", netns], check=False)
        volumes.detach_all(base)
        shutil.rmtree(base, ignore_errors=True)


def boot_storage(at: Node, label: str, **variables: Any) -> subprocess.CompletedProcess[str]:
    """The node's boot script, storage role only, with ``variables`` (the packages are already here)."""
    vars_file = at.base / f"{label}.json"
    vars_file.write_text(json.dumps({"install_packages": False, **variables}))
    return node.run(at.pid, ["sh", str(ROOT / "ansible" / "boot.sh"), str(vars_file), "--tags", "storage"],
                    f"storage role ({label})", check=False, timeout=300,
                    env={"CHPC_PYTHON": sys.executable, "CHPC_ANSIBLE_PLAYBOOK": str(PLAYBOOK),
                         "PATH": f"{PLAYBOOK.parent}:/usr/sbin:/usr/bin:/sbin:/bin"})


def in_node(at: Node, *argv: str) -> str:
    return node.run(at.pid, list(argv), " ".join(argv)).stdout.strip()


def mounted(at: Node, mount: Path) -> str:
    """``SOURCE FSTYPE`` of what the node has on ``mount``, or empty."""
    found = node.run(at.pid, ["findmnt", "-rn", "-o", "SOURCE,FSTYPE", "--mountpoint", str(mount)],
                     "findmnt", check=False)
    return found.stdout.strip()


def uuid(device: str) -> str:
    return subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", device], capture_output=True, text=True,
                          check=False).stdout.strip()


def disk(at: Node, label: str) -> str:
    return volumes.attach(at.base / "disks" / f"{label}.img", 1)


def fatal_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stdout.splitlines() if line.startswith("fatal:")]
    assert result.returncode != 0 and lines, result.stdout[-3000:] + result.stderr[-1000:]
    return lines[-1]


def test_boot_formats_only_the_blank_volume_mounts_the_share_and_a_second_run_changes_nothing(
        booted: Node) -> None:
    blank, used = disk(booted, "blank"), disk(booted, "used")
    subprocess.run(["mkfs.ext4", "-q", used], check=True)
    seed = booted.base / "seed"
    seed.mkdir()
    subprocess.run(["mount", used, str(seed)], check=True)
    (seed / "keep.txt").write_text("precious\n")
    subprocess.run(["umount", str(seed)], check=True)
    used_uuid = uuid(used)
    source, share = booted.base / "export", booted.base / "mnt" / "shared"
    source.mkdir()
    (source / "hello.txt").write_text("shared\n")
    scratch, data = booted.base / "mnt" / "scratch", booted.base / "mnt" / "data"
    variables = {
        "storage_volumes": [{"name": "scratch", "device": blank, "mount": str(scratch)},
                            {"name": "data", "device": used, "mount": str(data), "fs_type": "xfs"}],
        "storage_shared": {"kind": "bind", "source": str(source), "mount": str(share)},
        "storage_owner": "nobody", "storage_persist": True}

    first = boot_storage(booted, "first", **variables)
    assert first.returncode == 0, first.stdout[-3000:]
    assert mounted(booted, scratch) == f"{blank} ext4"
    assert mounted(booted, data) == f"{used} ext4"  # asked for xfs: the ext4 on it is kept, never reformatted
    assert uuid(used) == used_uuid
    assert in_node(booted, "cat", str(data / "keep.txt")) == "precious"
    assert in_node(booted, "cat", str(share / "hello.txt")) == "shared"
    assert not (share / "hello.txt").exists()  # mounted in the node's namespace only, as on a machine of its own
    folder = os.stat(source / TOOLKIT_DIR)  # made through the mount, so it lies on the share itself
    nobody = pwd.getpwnam("nobody")
    assert (folder.st_uid, folder.st_gid, stat.S_IMODE(folder.st_mode)) == (nobody.pw_uid, nobody.pw_gid, 0o700)
    lines = booted.fstab.read_text().splitlines()
    assert lines == ["proc /proc proc defaults 0 0", f"{source} {share} none bind,nofail 0 0",
                     f"UUID={uuid(blank)} {scratch} ext4 defaults,nofail 0 2",
                     f"UUID={used_uuid} {data} ext4 defaults,nofail 0 2"]

    in_node(booted, "sh", "-c", f"echo written > {scratch}/after.txt")
    again = boot_storage(booted, "again", **variables)
    assert again.returncode == 0, again.stdout[-3000:]
    assert " changed=0 " in again.stdout and " failed=0 " in again.stdout, again.stdout[-1500:]
    assert in_node(booted, "cat", str(scratch / "after.txt")) == "written"
    assert booted.fstab.read_text().splitlines() == lines


def test_a_volume_attached_after_the_boot_began_is_waited_for(booted: Node) -> None:
    """As an EBS volume whose attachment lands after the instance started: its by-id link appears late."""
    link, mount = booted.base / "late-disk", booted.base / "mnt" / "late"
    backing = booted.base / "disks" / "late.img"

    def attach_later() -> None:
        time.sleep(5)
        link.symlink_to(volumes.attach(backing, 1))

    attacher = threading.Thread(target=attach_later)
    started = time.monotonic()
    attacher.start()
    try:
        result = boot_storage(booted, "late", storage_persist=False, storage_wait_seconds=120,
                              storage_volumes=[{"name": "late", "device": str(link), "mount": str(mount)}])
    finally:
        attacher.join()
    assert result.returncode == 0, result.stdout[-3000:]
    assert time.monotonic() - started >= 5
    assert mounted(booted, mount) == f"{link.resolve()} ext4"


def test_a_volume_that_never_comes_fails_naming_it_after_the_wait(booted: Node) -> None:
    started = time.monotonic()
    result = boot_storage(booted, "never", storage_persist=False, storage_wait_seconds=4,
                          storage_volumes=[{"name": "ghost", "volume_id": "vol-0never0attached",
                                            "mount": str(booted.base / "mnt" / "ghost")}])
    line = fatal_line(result)
    assert "storage: volume ghost on " in line and "vol-0never0attached" in line, line
    assert "after waiting 4 s" in line and "attached to this node" in line, line
    assert time.monotonic() - started >= 4  # tried for the whole wait (no upper bound: ansible is slow under load)


def test_a_partitioned_volume_is_refused_at_once_and_left_as_it_is(booted: Node) -> None:
    device = disk(booted, "partitioned")
    write_partition_table(device)
    started = time.monotonic()
    result = boot_storage(booted, "partitioned", storage_persist=False, storage_wait_seconds=120,
                          storage_volumes=[{"name": "odd", "device": device,
                                            "mount": str(booted.base / "mnt" / "odd")}])
    line = fatal_line(result)
    assert "storage: volume odd on " in line and "partition table" in line, line
    assert time.monotonic() - started < 60  # refused, not tried again for the 120 s the role may wait
    probe = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", device], capture_output=True, text=True)
    assert probe.stdout.strip() == ""


def test_a_share_that_never_mounts_is_tried_for_the_wait_then_named(booted: Node) -> None:
    """As an EFS mount target or its DNS name not there yet, for good (this kernel has no NFS at all)."""
    started = time.monotonic()
    result = boot_storage(booted, "no-share", storage_persist=False, storage_wait_seconds=4,
                          storage_shared={"kind": "nfs", "source": "nowhere.invalid:/share",
                                          "mount": str(booted.base / "mnt" / "nfs")})
    line = fatal_line(result)
    assert "storage: shared file system nowhere.invalid:/share on " in line, line
    assert "failed after waiting 4 s" in line and "resolves from the node" in line, line
    assert time.monotonic() - started >= 4  # tried for the whole wait (no upper bound: ansible is slow under load)


def test_a_mount_point_another_environment_uses_survives_a_destroy(booted: Node, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Two environments on one machine share the host's mount-point folders: the one that made a folder must not
    remove it while a node of the other has something mounted there (the kernel would unmount it in that node)."""
    point = Path(f"/chpc-busy-{os.getpid():x}")
    point.mkdir()
    try:
        in_node(booted, "mount", "-t", "tmpfs", "busy", str(point))
        monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path))
        Journal(name="gone", created_dirs=[str(point)]).save()  # an environment that made the folder, going
        target.destroy("gone", Console(quiet=True))
        assert point.is_dir() and mounted(booted, point) == "busy tmpfs"
    finally:
        node.run(booted.pid, ["umount", str(point)], "umount", check=False)
        point.rmdir()
