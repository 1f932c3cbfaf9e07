"""A local node: a process tree in its own network, UTS, mount and PID namespaces.

The node's private directories (``/run``, ``/tmp``, ``/var/log``, ``/var/spool``, ``/etc/ssh``,
``/etc/slurm``, ``/etc/munge``, ...) are bind mounts of directories under the node's state folder,
so daemons of different nodes never share pid files, sockets, spools, logs or configuration.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from components.boot.script import KEPT
from targets.local.commands import LocalError, sh
from targets.local.network import netns_name

PRIVATE_DIRS = ("/tmp", "/var/log", "/var/spool", "/var/lib/munge", "/var/lib/slurm", KEPT,
                "/etc/ssh", "/etc/slurm", "/etc/munge", "/etc/openmpi")
SEEDED_DIRS = ("/etc/ssh", "/etc/openmpi")  # start from the machine's files, as an image would
PRIVATE_FILES = ("/etc/hosts", "/etc/hostname")


def private_path(node_dir: Path, path: str) -> Path:
    """Where a node's private copy of ``path`` lives on the host."""
    return node_dir / "root" / path.lstrip("/")


def prepare(node_dir: Path, hostname: str, hosts: str) -> None:
    """Create the node's private tree before its namespaces exist."""
    for path in PRIVATE_DIRS:
        target = private_path(node_dir, path)
        if path in SEEDED_DIRS and Path(path).is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True, copy_function=_copy_if_missing,
                            ignore=shutil.ignore_patterns("ssh_host_*", "authorized_keys"))
        target.mkdir(parents=True, exist_ok=True)
    os.chmod(private_path(node_dir, "/tmp"), 0o1777)
    private_path(node_dir, "/etc/hosts").write_text(hosts)
    private_path(node_dir, "/etc/hostname").write_text(hostname + "\n")


def _copy_if_missing(source: str, target: str) -> None:
    """Seed a file the node has not got: what the target wrote there (sshd_config) stays."""
    if not Path(target).exists():
        shutil.copy2(source, target)


def _uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def _wait_to_boot_after(moment: float) -> None:
    """Until a node started now would say it booted in a whole second after ``moment``.

    A node has its own boot clock (a time namespace whose uptime starts within a second of 0: ``unshare`` takes
    whole seconds), and slurmctld takes a node it powered up as up only when the boot time slurmd reports (whole
    seconds, its uptime rounded up) is not before the second it asked for the node: the node must have booted
    after the request, as a started machine has. At most two seconds."""
    while time.time() - _uptime() % 1 < int(moment) + 1:
        time.sleep(0.01)


def start(env_name: str, node: str, node_dir: Path, keep: Sequence[Path] = (),
          binds: Sequence[tuple[Path, str]] = (), booted_after: float | None = None, timeout: float = 20) -> int:
    """Start the node's init in new namespaces; return the init's host PID once mounts are ready.

    ``keep`` are host folders the node must still see although they lie under one of its private
    folders (a checkout or venv under /tmp): each is bound into the private copy first. ``binds`` are host folders
    the node sees at another path (the head's power agent socket), bound last, over its fresh /run.
    ``booted_after``: a moment (``time.time()``) the node's boot clock must say it booted after.
    """
    ready = node_dir / "ready"
    ready.unlink(missing_ok=True)
    mounts = []
    for folder in keep:
        for private in PRIVATE_DIRS:
            if folder.is_relative_to(private):
                inner = private_path(node_dir, private) / folder.relative_to(private)
                mounts.append([str(folder), str(inner), "dir"])
    mounts += [[str(private_path(node_dir, p)), p, "dir"] for p in PRIVATE_DIRS]
    mounts += [[str(private_path(node_dir, p)), p, "file"] for p in PRIVATE_FILES]
    mounts.append(["tmpfs", "/run", "tmpfs"])
    mounts += [[str(source), target, "dir"] for source, target in binds]
    config = {"hostname": node, "mounts": mounts, "ready_file": str(ready),
              "dirs": ["/run/sshd", "/run/munge", "/run/slurm"]}
    if booted_after is not None:
        _wait_to_boot_after(booted_after)
    argv = ["ip", "netns", "exec", netns_name(env_name, node),
            "unshare", "--uts", "--mount", "--pid", "--ipc", "--time", f"--boottime={-int(_uptime())}", "--fork",
            "--mount-proc",
            "--propagation", "private", "--",
            sys.executable, str(Path(__file__).with_name("node_init.py")), json.dumps(config)]
    log = open(node_dir / "init.log", "ab")  # noqa: SIM115 - handed to the child
    with log:
        unshare = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True)
    try:
        return _ready_init(unshare, node, node_dir, ready, timeout)
    except BaseException:
        # not journaled yet, and before its init runs it is not even found by its command line: a failed or
        # interrupted start takes its own processes down (their session is theirs alone)
        with contextlib.suppress(ProcessLookupError):  # its init failed: nothing of it is left
            os.killpg(unshare.pid, signal.SIGKILL)
        raise


def _ready_init(unshare: subprocess.Popen[bytes], node: str, node_dir: Path, ready: Path, timeout: float) -> int:
    """The init's host PID once it has written ``ready``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unshare.poll() is not None:
            tail = (node_dir / "init.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise LocalError(f"start node {node}: its init exited {unshare.returncode}: {' | '.join(tail)}")
        if ready.exists():
            return _child_pid(unshare.pid)
        time.sleep(0.05)
    raise LocalError(f"start node {node}: namespaces not ready after {timeout:.0f} s; see {node_dir}/init.log")


def _child_pid(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if len(children) != 1:
        raise LocalError(f"start node: expected one init under unshare {pid}, found {children}")
    return int(children[0])


def run(init_pid: int, argv: Sequence[str], step: str, *, check: bool = True,
        timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run argv inside the node (all its namespaces), like a command run on the machine itself."""
    prefix = ["nsenter", "-t", str(init_pid), "-m", "-u", "-n", "-p", "-i", "-T", "--"]
    if env:
        prefix += ["env", *(f"{k}={v}" for k, v in env.items())]
    return sh([*prefix, *argv], step, check=check, timeout=timeout)


def inits_under(nodes_dir: Path) -> list[int]:
    """Node inits whose node folder lies under ``nodes_dir`` (one node's, or an environment's ``nodes``), found by
    their command line: those a journal missed (started, then killed before it was written)."""
    marker = f"{nodes_dir}/".encode()  # compute-1's folder is not compute-10's
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"node_init.py" in cmdline and marker in cmdline and is_namespace_init(proc):
                pids.append(int(proc.name))
    return pids


def is_namespace_init(proc: Path) -> bool:
    """True for PID 1 of a child PID namespace (not the ``unshare`` parent waiting for it)."""
    try:
        status = (proc / "status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return len(ids) > 1 and ids[-1] == "1"
    return False


def alive(init_pid: int) -> bool:
    try:
        return Path(f"/proc/{init_pid}/cmdline").read_bytes().find(b"node_init.py") >= 0
    except OSError:
        return False


def kill(init_pid: int, timeout: float = 10) -> None:
    """SIGKILL the node's init: the kernel then kills every process in the node's PID namespace."""
    if not alive(init_pid):
        return
    os.kill(init_pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while not _ended(init_pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _ended(pid: int) -> bool:
    """Gone or a zombie. Not "no longer node_init.py": a dying init loses its command line first, then waits for the
    kernel to end every other process of its namespace, which still hold the node's network namespace (and its veth)
    until they are gone; only then is it a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")
