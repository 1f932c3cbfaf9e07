"""Real OpenSSH servers on 127.0.0.1 for the remote/ tests: one private config, host key and log each.

Each ``Sshd`` runs ``/usr/sbin/sshd -D -e -f CONFIG`` on its own free port, logs to a file the tests
read, and on ``stop()`` kills the listener and every process it forked (sshd's per-connection children
call setsid, so killing a process group would miss them). One given a ``status_dir`` plays a booting node: it
runs in its own mount namespace where that folder is the node's /var/log/cloud-hpc-toolkit, so the commands its
sessions run find there the boot status the test writes.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from spec.boot_status import STATUS_DIR
from spec.outputs import Node, Outputs, SlurmPartition

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Generate a key pair at ``path``; return the public key line without its comment."""
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)
    return " ".join(path.with_suffix(path.suffix + ".pub").read_text().split()[:2])


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


@dataclass
class Sshd:
    name: str
    workdir: Path
    authorized_keys: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    status_dir: Path | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_key_path = self.workdir / "ssh_host_ed25519_key"
        self.host_key = keygen(self.host_key_path)
        self.config = self.workdir / "sshd_config"
        self.log = self.workdir / "sshd.log"
        self.pidfile = self.workdir / "sshd.pid"

    def write_config(self) -> None:
        self.config.write_text(
            "\n".join([
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.host_key_path}",
                f"PidFile {self.pidfile}",
                f"AuthorizedKeysFile {self.authorized_keys}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "AllowTcpForwarding yes",
                "PrintMotd no",
                "UseDNS no",
                "LogLevel VERBOSE",
                "Subsystem sftp internal-sftp",  # no login shell per session: faster tests
                "",
            ])
        )

    def start(self, wait: bool = True) -> Sshd:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.write_config()
        argv = [SSHD, "-D", "-e", "-f", str(self.config)]
        if self.status_dir is not None:  # unshare and sh exec, so the pid stays the listener's
            argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                    f"mount -t tmpfs tmpfs /var/log && mkdir {STATUS_DIR} && mount --bind \"$0\" {STATUS_DIR} && "
                    'exec "$@"', str(self.status_dir), *argv]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"sshd {self.name} exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd {self.name} did not listen on {self.port}: {self.log.read_text()}")

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        """Stop the per-connection children first (the listener reaps them), then the listener."""
        if self.proc is None:
            return
        kids = children(self.proc.pid)
        _signal_all(kids, signal.SIGTERM)
        _wait_gone(kids, 3.0)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        _signal_all([pid for pid in kids if _running(pid)], signal.SIGKILL)
        self.proc = None


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(pids: list[int], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(_running(pid) for pid in pids):
        time.sleep(0.02)


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def established_to(port: int) -> list[str]:
    """ESTABLISHED TCP connections whose destination port is ``port`` (as ``ss`` sees them)."""
    out = subprocess.run(["ss", "-tnH", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def socket_owner(local_port: int) -> list[int]:
    """PIDs of the processes owning the TCP socket bound to 127.0.0.1:``local_port``."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{local_port} )"],
                         capture_output=True, text=True, check=True).stdout
    parts = out.replace(")", ",").split(",")
    return [int(part.split("=", 1)[1]) for part in parts if part.startswith("pid=")]


@dataclass
class Keys:
    ed25519: Path
    rsa: Path
    authorized_keys: Path


@dataclass
class Cluster:
    head: Sshd
    computes: list[Sshd]
    keys: Keys
    outputs: Outputs

    @property
    def ports(self) -> dict[str, int]:
        return {sshd.name: sshd.port for sshd in [self.head, *self.computes]}

    def sshd(self, name: str) -> Sshd:
        return next(s for s in [self.head, *self.computes] if s.name == name)


def node_for(sshd: Sshd, host_key: str | None = None) -> Node:
    return Node(name=sshd.name, address="127.0.0.1", host_key=host_key or sshd.host_key)


def outputs_for(head: Sshd, computes: list[Sshd], key: Path) -> Outputs:
    return Outputs(
        target="local",
        name="remote-tests",
        ssh_user=getpass.getuser(),
        ssh_private_key=str(key),
        head=node_for(head),
        computes=[node_for(c) for c in computes],
        partitions=[SlurmPartition(name="compute", instance_type="local", min=len(computes), max=len(computes),
                                   nodes=[c.name for c in computes])],
    )


def new_sshd(made: list[Sshd], tmp_path_factory: pytest.TempPathFactory, keys: Keys, name: str) -> Sshd:
    sshd = Sshd(name, tmp_path_factory.mktemp(f"sshd-{name}"), keys.authorized_keys)
    made.append(sshd)
    return sshd
