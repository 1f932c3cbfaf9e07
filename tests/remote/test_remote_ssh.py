"""ssh.connect against real sshds: pinned host keys, key types, retries while a node boots, deadlines."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from remote import ssh
from remote.errors import HostKeyMismatch, RemoteError
from remote.run import run
from tests.remote.sshd import Cluster, Sshd, keygen, node_for

REMOTE = Path(__file__).resolve().parents[2] / "remote"


def test_connect_with_the_pinned_key(cluster: Cluster) -> None:
    node = node_for(cluster.head)
    client = ssh.connect(node, cluster.outputs.ssh_user, str(cluster.keys.ed25519), port=cluster.head.port,
                         deadline=10)
    try:
        assert run(client, ["echo", "hello"], step="echo").stdout == "hello\n"
        assert ssh.node_of(client) == "head"
        # the pinned key is stored under the name paramiko looks up for a non-22 port
        assert client.get_host_keys().lookup(f"[127.0.0.1]:{cluster.head.port}") is not None
    finally:
        client.close()


def test_connect_with_an_rsa_client_key(cluster: Cluster) -> None:
    client = ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(cluster.keys.rsa),
                         port=cluster.head.port, deadline=10)
    try:
        assert run(client, "echo rsa", step="echo").stdout == "rsa\n"
    finally:
        client.close()


def test_wrong_pinned_key_is_a_host_key_mismatch(cluster: Cluster, tmp_path: Path) -> None:
    wrong = keygen(tmp_path / "other_host_key")
    node = node_for(cluster.head, host_key=wrong)
    started = time.monotonic()
    with pytest.raises(HostKeyMismatch) as caught:
        ssh.connect(node, cluster.outputs.ssh_user, str(cluster.keys.ed25519), port=cluster.head.port,
                    deadline=30)
    assert time.monotonic() - started < 5, "a host key mismatch must not be retried"
    err = caught.value
    expected = ssh.fingerprint(ssh.parse_host_key(wrong))
    offered = ssh.fingerprint(ssh.parse_host_key(cluster.head.host_key))
    message = str(err)
    assert isinstance(err, RemoteError) and err.node == "head" and err.step == "connect"
    assert "head" in message and "127.0.0.1" in message
    assert expected in message and offered in message
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", offered)
    assert "invoke up" in message and "intercepted" in message


def test_a_host_whose_key_is_not_pinned_is_refused_in_one_line(cluster: Cluster, tmp_path: Path) -> None:
    """The head serves only its ed25519 key; the outputs pin an RSA key for it, so nothing the head can offer is
    pinned. Trust on first use would log in; the toolkit refuses at once, in one line naming both keys."""
    pinned = keygen(tmp_path / "rsa_host_key", "rsa")
    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node_for(cluster.head, host_key=pinned), cluster.outputs.ssh_user, str(cluster.keys.ed25519),
                    port=cluster.head.port, deadline=30)
    assert time.monotonic() - started < 5, "an unknown host key must not be retried"
    expected = ssh.fingerprint(ssh.parse_host_key(pinned))
    offered = ssh.fingerprint(ssh.parse_host_key(cluster.head.host_key))
    first, hint = str(caught.value).split("\n")
    where = f"127.0.0.1:{cluster.head.port}"
    assert first == (f"[head] connect failed: host key mismatch for node head at {where}: expected {expected} "
                     f"(pinned in the outputs), the server offered {offered}")
    assert hint.strip().startswith("what to do:") and "invoke up" in hint


def test_fingerprint_matches_openssh(cluster: Cluster) -> None:
    import subprocess

    pub = Path(f"{cluster.head.host_key_path}.pub")
    printed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], capture_output=True,
                             text=True, check=True).stdout.split()[1]
    assert ssh.fingerprint(ssh.parse_host_key(cluster.head.host_key)) == printed


def test_refused_login_is_not_retried(cluster: Cluster, tmp_path: Path) -> None:
    stranger = tmp_path / "id_stranger"
    keygen(stranger)
    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(stranger), port=cluster.head.port,
                    deadline=30)
    assert time.monotonic() - started < 5
    assert caught.value.node == "head" and caught.value.step == "connect"
    assert str(stranger) in str(caught.value)


def test_missing_private_key_names_the_file(cluster: Cluster, tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node_for(cluster.head), "root", str(tmp_path / "nope"), port=cluster.head.port,
                    deadline=1)
    assert "nope" in str(caught.value) and caught.value.hint


def test_retry_until_the_node_listens(sshd_factory: list[Sshd], tmp_path_factory: pytest.TempPathFactory,
                                      cluster: Cluster) -> None:
    from tests.remote.sshd import new_sshd

    late = new_sshd(sshd_factory, tmp_path_factory, cluster.keys, "late")
    timer = threading.Timer(1.5, late.start, kwargs={"wait": False})
    started = time.monotonic()
    timer.start()
    try:
        client = ssh.connect(node_for(late), cluster.outputs.ssh_user, str(cluster.keys.ed25519),
                             port=late.port, deadline=20)
    finally:
        timer.join()
    try:
        elapsed = time.monotonic() - started
        assert 1.4 <= elapsed < 10
        assert run(client, "echo up", step="echo").stdout == "up\n"
    finally:
        client.close()
        late.stop()


def test_refused_login_is_retried_only_for_a_booting_node(sshd_factory: list[Sshd], cluster: Cluster,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("sshd-booting")
    authorized = work / "authorized_keys"
    authorized.write_text("")  # the node's boot has not authorized the user's key yet
    booting = Sshd("booting", work / "sshd", authorized)
    sshd_factory.append(booting)
    booting.start()
    user, key = cluster.outputs.ssh_user, str(cluster.keys.ed25519)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="refused the key"):
        ssh.connect(node_for(booting), user, key, port=booting.port, deadline=20)
    assert time.monotonic() - started < 5  # an ordinary task hears of a wrong key at once
    timer = threading.Timer(1.5, authorized.write_text, args=(cluster.keys.authorized_keys.read_text(),))
    started = time.monotonic()
    timer.start()
    try:
        client = ssh.connect(node_for(booting), user, key, port=booting.port, deadline=20, retry_auth=True)
    finally:
        timer.join()
    try:
        assert 1.4 <= time.monotonic() - started < 10
        assert run(client, "echo in", step="echo").stdout == "in\n"
    finally:
        client.close()
    authorized.write_text("")  # a key never authorized: retried until the deadline, then said
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"refused the key .*\(\d+ attempts in"):
        ssh.connect(node_for(booting), user, key, port=booting.port, deadline=1.5, retry_auth=True)
    assert 1.4 <= time.monotonic() - started < 5


def test_deadline_names_node_and_step(tmp_path: Path, cluster: Cluster) -> None:
    from tests.remote.sshd import free_port

    node = node_for(cluster.head).model_copy(update={"name": "compute-9"})
    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node, "root", str(cluster.keys.ed25519), port=free_port(), deadline=1.5)
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 4
    assert caught.value.node == "compute-9" and caught.value.step == "connect"
    assert "compute-9" in str(caught.value) and "attempts" in str(caught.value)
    assert not isinstance(caught.value, HostKeyMismatch)


def test_no_trust_on_first_use_anywhere_in_remote() -> None:
    sources = {path.name: path.read_text() for path in REMOTE.glob("*.py")}
    for name, text in sources.items():
        assert "AutoAddPolicy" not in text, name
        assert "WarningPolicy" not in text, name
        assert "load_system_host_keys" not in text, name
        assert not re.search(r"^\s*(from|import)\s+(targets|pulumi)\b", text, re.M), name
    assert "RejectPolicy()" in sources["ssh.py"]
