"""The EFS TLS tunnel, for real on this machine: the storage role run as a cloud node runs it (packages installed
from Debian with apt, the tunnel configured), inside one local-target node that shares this machine's network (apt
needs it) and has an /etc/hosts of its own naming the file system 127.0.0.1, where the test's TLS server listens on
NFS's port 2049 with certificates from a CA the test makes. mount.sh, run by the role, starts the tunnel; its last
step, ``mount -t nfs4`` through the tunnel, cannot run here (this kernel has no NFS client), so the role fails
there, naming the command it ran.

The role writes its files into this machine's /etc as it would into a node's (the packages must be installed
for real, so /etc is not overlaid); the test removes the files it made and purges the packages the role installed,
so the machine is left as it was found (the nfs client changes how other tests' NFS mounts fail here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from targets.local import node
from targets.local.network import netns_name
from tests.local.harness import ROOT, run_name
from tests.local.test_storage_role import Node, boot_storage, fatal_line

pytestmark = pytest.mark.local_cluster

FS = "fs-0123456789abcdef0.efs.us-east-1.amazonaws.com"
OTHER_FS = "fs-0fedcba9876543210.efs.us-east-1.amazonaws.com"
PORT = 20049
TLS_DIR = Path("/etc/cloud-hpc-toolkit/efs-tls")
UNIT = Path("/etc/systemd/system/chpc-efs-tls@.service")
MOUNT_SCRIPT = ROOT / "ansible" / "roles" / "storage" / "files" / "mount.sh"
NFS_OPTIONS = f"nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,port={PORT}"


@dataclass(frozen=True)
class Booted:
    node: Node
    certs: Path
    boot: subprocess.CompletedProcess[str]
    mount: Path

    def tunnel_log(self) -> str:
        path = node.private_path(self.node.base / "node", f"/var/log/cloud-hpc-toolkit/efs-tls-{FS}.log")
        return path.read_text()


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(at: Path) -> None:
    """ca.pem signs server.pem (the file system's name) and wrong-name.pem; rogue.pem has the name, signed by
    another CA (rogue-ca.pem, which the tunnel is not given)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"]
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", *key, "-keyout", str(at / f"{ca}.key"), "-out", str(at / f"{ca}.pem"),
                "-subj", f"/CN=test {ca}")
    for label, name, ca in (("server", FS, "ca"), ("wrong-name", OTHER_FS, "ca"), ("rogue", FS, "rogue-ca")):
        openssl("req", "-x509", *key, "-CA", str(at / f"{ca}.pem"), "-CAkey", str(at / f"{ca}.key"),
                "-keyout", str(at / f"{label}.key"), "-out", str(at / f"{label}.pem"),
                "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}")


@pytest.fixture(scope="module")
def booted() -> Iterator[Booted]:
    """One node in this machine's network namespace (attached under a name of its own), the role run once."""
    name = run_name("efs")
    base = Path(tempfile.mkdtemp(prefix="chpc-efs-tls-", dir="/var/tmp"))
    certs = base / "certs"
    certs.mkdir()
    make_certs(certs)
    netns = netns_name(name, "node")
    subprocess.run(["ip", "netns", "attach", netns, str(os.getpid())], check=True)
    made = [path for path in (TLS_DIR.parent, TLS_DIR, UNIT) if not path.exists()]
    packages = installed_packages()
    pid = None
    try:
        node.prepare(base / "node", "node", f"127.0.0.1 localhost node\n127.0.0.1 {FS}\n")
        pid = node.start(name, "node", base / "node", keep=[ROOT, Path(sys.prefix)])
        at, mount = Node(pid, base, Path("/etc/fstab")), base / "mnt" / "shared"
        boot = boot_storage(at, "efs", install_packages=True, service_manager="direct", storage_persist=False,
                            storage_owner="root", storage_wait_seconds=2,
                            storage_efs_tls_ca_certs=[str(certs / "ca.pem")],
                            storage_shared={"kind": "efs", "source": FS, "mount": str(mount)})
        yield Booted(at, certs, boot, mount)
    finally:
        if pid is not None:
            node.kill(pid)  # its stunnel with it
        if new := sorted(installed_packages() - packages):
            subprocess.run(["apt-get", "purge", "-y", "-qq", *new], capture_output=True, check=False,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        subprocess.run(["ip", "netns", "del", netns], check=False)  # the name only: the network is this machine's
        for path in reversed(made):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        (TLS_DIR / f"{FS}.conf").unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def installed_packages() -> set[str]:
    listed = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package}\\n"], capture_output=True,
                            text=True, check=True).stdout
    return {line.split()[1] for line in listed.splitlines() if line.startswith("ii ")}


class TlsServer:
    """``openssl s_server -www`` on 127.0.0.1:2049 with one certificate: a TLS peer that answers a GET."""

    def __init__(self, certs: Path, label: str) -> None:
        self.process = subprocess.Popen(
            ["openssl", "s_server", "-quiet", "-www", "-accept", "127.0.0.1:2049", "-cert", str(certs / f"{label}.pem"),
             "-key", str(certs / f"{label}.key")], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not listening(2049):
            assert self.process.poll() is None and time.monotonic() < deadline, "openssl s_server did not start"
            time.sleep(0.05)

    def __enter__(self) -> TlsServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def listening(port: int) -> bool:
    found = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return bool(found.stdout.strip())


def through_tunnel() -> bytes:
    """What a GET sent into the tunnel's local port brings back (empty: the tunnel closed or reset the connection,
    as it does when the server's certificate is refused)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", PORT), timeout=20) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def test_the_role_installs_stunnel_and_the_nfs_client_from_debian(booted: Booted) -> None:
    for package in ("stunnel4", "nfs-common", "ca-certificates"):
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        assert status.stdout == "install ok installed", package
    assert Path("/usr/bin/stunnel4").is_file() and Path("/sbin/mount.nfs4").exists()


def test_the_role_writes_the_tunnel_as_efs_utils_configures_stunnel(booted: Booted) -> None:
    text = (TLS_DIR / f"{FS}.conf").read_text()
    settings = [line.split(" = ", 1) if " = " in line else [line.rstrip(" ="), ""]
                for line in text.splitlines() if line and not line.startswith("#")]
    assert settings == [
        ["fips", "no"], ["foreground", "yes"], ["pid", ""], ["socket", "l:SO_REUSEADDR=yes"],
        ["socket", "a:SO_BINDTODEVICE=lo"], ["[efs]", ""], ["client", "yes"], ["accept", f"127.0.0.1:{PORT}"],
        ["connect", f"{FS}:2049"], ["sslVersionMin", "TLSv1.2"], ["renegotiation", "no"], ["TIMEOUTbusy", "20"],
        ["TIMEOUTclose", "0"], ["TIMEOUTidle", "70"], ["delay", "yes"], ["verify", "2"],
        ["CAfile", f"{TLS_DIR}/ca.pem"], ["checkHost", FS], ["libwrap", "no"]]
    assert (TLS_DIR / "ca.pem").read_text() == (booted.certs / "ca.pem").read_text()  # only the CAs it was given
    unit = UNIT.read_text()
    for line in ("ExecStart=/usr/bin/stunnel4 /etc/cloud-hpc-toolkit/efs-tls/%i.conf", "User=stunnel4",
                 "Restart=always", "WantedBy=remote-fs.target"):
        assert line in unit.splitlines(), line


def test_systemd_accepts_the_tunnels_unit_for_the_file_system(booted: Booted, tmp_path: Path) -> None:
    """The instance a node enables, checked by systemd's own verifier (its command, user and options)."""
    shutil.copy(UNIT, tmp_path / UNIT.name)
    instance = tmp_path / f"chpc-efs-tls@{FS}.service"
    instance.symlink_to(UNIT.name)
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", str(instance)], capture_output=True,
                              text=True, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


def test_the_boot_fails_only_at_the_nfs_mount_through_the_tunnel(booted: Booted) -> None:
    """Everything before it ran (packages, configuration, the tunnel started); the kernel here has no NFS."""
    line = fatal_line(booted.boot)
    assert f"storage: shared file system {FS} on {booted.mount}:" in line, line
    assert f"mount -t nfs4 -o {NFS_OPTIONS},retry=0 127.0.0.1:/ {booted.mount} failed after waiting 2 s" in line, line
    assert booted.boot.stdout.count("fatal:") == 1, booted.boot.stdout[-3000:]
    assert listening(PORT)


def test_the_tunnel_carries_nfs_traffic_to_the_server_with_the_file_systems_name(booted: Booted) -> None:
    with TlsServer(booted.certs, "server"):
        answer = through_tunnel()
    assert answer.startswith(b"HTTP/1.0 200 ok"), answer[:200]
    assert b"TLSv1.3" in answer  # TLS 1.2 is the least version, not the only one


@pytest.mark.parametrize(("label", "why"), [("wrong-name", "CERT: Subject checks failed"),
                                            ("rogue", "Pre-verification error: unable to get local issuer")])
def test_the_tunnel_refuses_a_server_without_the_name_or_the_ca(booted: Booted, label: str, why: str) -> None:
    before = len(booted.tunnel_log())
    with TlsServer(booted.certs, label):
        answer = through_tunnel()
    assert answer == b""
    log = booted.tunnel_log()[before:]
    assert why in log and "Rejected by CERT at depth=0" in log, log


def test_mount_sh_refuses_an_efs_share_without_its_tunnel_rather_than_mounting_plain_nfs(booted: Booted) -> None:
    result = node.run(booted.node.pid, ["sh", str(MOUNT_SCRIPT), "shared", "efs", OTHER_FS,
                                        str(booted.node.base / "mnt" / "plain"), "", "0", "/etc/fstab", "root", "0"],
                      "mount.sh without a tunnel", check=False)
    assert result.returncode == 24, result.stderr
    assert f"no TLS tunnel to {OTHER_FS} on this node" in result.stderr


def test_mount_sh_starts_the_tunnel_again_after_it_died(booted: Booted) -> None:
    """As `invoke mount` on a node whose tunnel is gone (no init system here to restart it): mount.sh starts it."""
    node.run(booted.node.pid, ["pkill", "-x", "stunnel4"], "stop the tunnel")
    deadline = time.monotonic() + 10
    while listening(PORT):
        assert time.monotonic() < deadline, "the tunnel did not stop"
        time.sleep(0.05)
    result = node.run(booted.node.pid, ["sh", str(MOUNT_SCRIPT), "shared", "efs", FS, str(booted.mount), "", "0",
                                        "/etc/fstab", "root", "0"], "mount.sh again", check=False)
    assert result.returncode == 22, result.stderr  # the NFS mount, after the tunnel: this kernel has no NFS
    assert f"mount -t nfs4 -o {NFS_OPTIONS},retry=0 127.0.0.1:/ {booted.mount} failed" in result.stderr
    assert f"(the TLS tunnel's log: /var/log/cloud-hpc-toolkit/efs-tls-{FS}.log)" in result.stderr
    with TlsServer(booted.certs, "server"):
        assert through_tunnel().startswith(b"HTTP/1.0 200 ok")
