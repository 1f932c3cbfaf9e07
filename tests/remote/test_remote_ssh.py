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
    user, where = cluster.outputs.ssh_user, f"127.0.0.1:{cluster.head.port}"
    assert str(caught.value).split("\n") == [
        f"[head] connect failed: {user}@{where} refused the key {stranger}: Authentication failed.",
        f"  what to do: check that {stranger} is the key the environment was built with and that the user is "
        f"{user!r}; a node that is still booting may not have the key installed yet"]


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
    with pytest.raises(RemoteError, match=r"refused the key .*\(\d+ attempts in [1-4]\.\ds\): "):
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


def _encrypted_key(path: Path) -> Path:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-C", "", "-f", str(path)], check=True,
                   stdin=subprocess.DEVNULL)
    return path


@pytest.mark.parametrize("kind", ["missing", "encrypted", "not a key"])
def test_an_unusable_private_key_is_one_line_naming_the_node_the_file_and_the_fix(
        cluster: Cluster, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "id_user"
    if kind == "encrypted":
        _encrypted_key(path)
    elif kind == "not a key":
        path.write_text("hello\n")
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(path), port=cluster.head.port, deadline=1)
    first, hint = str(caught.value).split("\n")
    assert (caught.value.node, caught.value.step) == ("head", "load private key")
    if kind == "missing":
        assert first == f"[head] load private key failed: {path} does not exist"
        assert hint == "  what to do: check ssh_private_key in the outputs; `invoke up` writes it"
    elif kind == "encrypted":
        assert first == f"[head] load private key failed: {path} is encrypted"
        assert hint == "  what to do: use an unencrypted key for the toolkit (ssh agents are not used)"
    else:
        assert first.startswith(f"[head] load private key failed: cannot load {path}: ")
        assert hint == "  what to do: use an ed25519 or RSA private key in OpenSSH or PEM format"


def test_the_key_helpers_name_no_node_unless_told(tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as caught:
        ssh.load_private_key(tmp_path / "nope")
    assert caught.value.node == ""
    with pytest.raises(RemoteError) as caught:
        ssh.parse_host_key("ssh-ed25519")
    assert caught.value.node == ""


def test_a_pinned_key_with_a_stray_character_is_refused_not_repaired(cluster: Cluster) -> None:
    """A damaged outputs file is named, not read leniently into some key (base64 that skips what it cannot read)."""
    kind, data = cluster.head.host_key.split()[:2]
    with pytest.raises(RemoteError) as caught:
        ssh.parse_host_key(f"{kind} {data[:10]}!{data[10:]}", node="head")
    assert caught.value.step == "pin host key"


@pytest.mark.parametrize("line", ["ssh-ed25519", "ssh-ed25519 not-base64!", "ssh-nothing AAAA"])
def test_an_unreadable_pinned_host_key_is_one_line_naming_the_node(cluster: Cluster, line: str) -> None:
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node_for(cluster.head, host_key=line), cluster.outputs.ssh_user, str(cluster.keys.ed25519),
                    port=cluster.head.port, deadline=1)
    first, hint = str(caught.value).split("\n")
    assert (caught.value.node, caught.value.step) == ("head", "pin host key")
    if line == "ssh-ed25519":
        assert first == f"[head] pin host key failed: the pinned host key {line!r} is not 'TYPE BASE64'"
    else:
        assert first.startswith(f"[head] pin host key failed: cannot parse the pinned host key {line!r}: ")
    assert hint == "  what to do: run `invoke up` again to rewrite the outputs"


def test_host_key_names_follow_openssh() -> None:
    assert ssh.host_key_name("10.0.0.5", 22) == "10.0.0.5"
    assert ssh.host_key_name("10.0.0.5", 2222) == "[10.0.0.5]:2222"


def test_a_client_not_made_by_connect_is_named_by_its_peer(cluster: Cluster) -> None:
    import paramiko

    client = paramiko.SSHClient()
    assert ssh.node_of(client) == "unknown node"
    pinned = ssh.parse_host_key(cluster.head.host_key)
    client.get_host_keys().add(ssh.host_key_name("127.0.0.1", cluster.head.port), pinned.get_name(), pinned)
    client.connect("127.0.0.1", port=cluster.head.port, username=cluster.outputs.ssh_user,
                   key_filename=str(cluster.keys.ed25519), allow_agent=False, look_for_keys=False, timeout=10)
    try:
        assert ssh.node_of(client) == f"127.0.0.1:{cluster.head.port}"
    finally:
        client.close()


def test_only_the_given_key_logs_in_never_an_agents_or_a_default_one(
        cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authorized key sits in ~/.ssh/id_ed25519 and in a running ssh-agent; a connection given another key
    must still be refused: the toolkit logs in with the environment's key or not at all."""
    import shutil
    import subprocess

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(cluster.keys.ed25519, home / ".ssh" / "id_ed25519")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    agent_sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not agent_sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(agent_sock))
        subprocess.run(["ssh-add", "-q", str(cluster.keys.ed25519)], check=True, capture_output=True)
        stranger = tmp_path / "id_stranger"
        keygen(stranger)
        with pytest.raises(RemoteError, match="refused the key"):
            ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(stranger), port=cluster.head.port,
                        deadline=5)
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_the_login_is_as_the_user_asked(cluster: Cluster) -> None:
    """nobody cannot read the test's authorized_keys, so sshd refuses it: a login as anyone else would pass."""
    before = cluster.head.log_text()
    with pytest.raises(RemoteError, match="nobody@127.0.0.1"):
        ssh.connect(node_for(cluster.head), "nobody", str(cluster.keys.ed25519), port=cluster.head.port,
                    deadline=10)
    assert "Failed publickey for nobody from 127.0.0.1" in cluster.head.log_text()[len(before):]


def test_an_open_socket_is_used_as_given(cluster: Cluster) -> None:
    import socket

    sock = socket.create_connection(("127.0.0.1", cluster.head.port), timeout=10)
    client = ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(cluster.keys.ed25519),
                         port=cluster.head.port, sock=sock, deadline=10)
    try:
        assert run(client, "echo via-sock", step="echo").stdout == "via-sock\n"
        # a tunnelled connection pins the key under the bare address, whatever port the messages name
        assert client.get_host_keys().lookup("127.0.0.1") is not None
    finally:
        client.close()


def test_a_name_that_cannot_resolve_is_not_retried(cluster: Cluster) -> None:
    """glibc refuses a name with a blank in it without asking any DNS server: no traffic leaves the machine."""
    node = node_for(cluster.head).model_copy(update={"address": "not a host"})
    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node, cluster.outputs.ssh_user, str(cluster.keys.ed25519), port=cluster.head.port, deadline=10)
    assert time.monotonic() - started < 3, "a configuration error must not be retried until the deadline"
    first, hint = str(caught.value).split("\n")
    assert first.startswith(f"[head] connect failed: cannot connect to not a host:{cluster.head.port}: gaierror: ")
    assert hint == "  what to do: check the address in the outputs and that sshd runs on the node"


def test_the_default_port_is_22_and_the_last_error_is_named_by_its_type(cluster: Cluster) -> None:
    with pytest.raises(RemoteError) as caught:
        ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(cluster.keys.ed25519), deadline=0.5)
    assert ": NoValidConnectionsError: [Errno None] Unable to connect to port 22 on 127.0.0.1" in str(caught.value)
    assert "127.0.0.1:22 after" in str(caught.value)


def test_a_node_that_never_sends_its_banner_is_given_up_at_the_deadline(cluster: Cluster) -> None:
    """A listener that accepts and says nothing (a hung sshd): each attempt waits only what the deadline leaves."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(RemoteError, match="gave up on"):
            ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(cluster.keys.ed25519), port=port,
                        deadline=1.0)
        assert time.monotonic() - started < 1.9
    finally:
        listener.close()


@pytest.mark.parametrize("via", ["head", None])
def test_a_dropped_jump_host_is_a_lost_connection_said_at_once(cluster: Cluster, via: str | None) -> None:
    from remote.errors import ConnectionLost

    head = ssh.connect(node_for(cluster.head), cluster.outputs.ssh_user, str(cluster.keys.ed25519),
                       port=cluster.head.port, deadline=10)
    transport = head.get_transport()
    assert transport is not None
    head.close()
    compute = cluster.computes[0]
    started = time.monotonic()
    with pytest.raises(ConnectionLost) as caught:
        ssh.connect(node_for(compute), cluster.outputs.ssh_user, str(cluster.keys.ed25519), port=compute.port,
                    open_sock=lambda: transport.open_channel("direct-tcpip", ("127.0.0.1", compute.port),
                                                             ("127.0.0.1", 0)), via=via, deadline=10)
    assert time.monotonic() - started < 3, "a dead jump host is not retried: the pool must reconnect it first"
    jump = via or "the jump host"
    assert str(caught.value).split("\n") == [
        f"[{compute.name}] connect failed: the connection to {jump} dropped: SSH session not active",
        f"  what to do: reset the pool so {jump} is reconnected, then retry"]
