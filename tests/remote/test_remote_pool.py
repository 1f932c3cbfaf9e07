"""Pool: one TCP connection to the head, compute nodes through it, caching, resets, handshake cap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from remote.errors import HostKeyMismatch, RemoteError
from remote.pool import Pool
from remote.run import run
from tests.remote.sshd import Cluster, ancestors, established_to, keygen, socket_owner

COMPUTE_NAMES = ["compute-0", "compute-1", "compute-2", "compute-3"]


def test_compute_is_reached_through_the_head(cluster: Cluster, pool: Pool) -> None:
    client = pool.client("compute-0")
    seen = run(client, 'echo "$SSH_CONNECTION"', step="whoami").stdout.split()
    client_addr, client_port, server_addr, server_port = seen[0], int(seen[1]), seen[2], int(seen[3])
    compute_port = cluster.sshd("compute-0").port
    assert (client_addr, server_addr, server_port) == ("127.0.0.1", "127.0.0.1", compute_port)
    # The TCP connection the compute sshd accepted belongs to a process forked by the HEAD's sshd,
    # not to this test process: the connection was forwarded by the head.
    owners = socket_owner(client_port)
    assert owners, f"no process owns 127.0.0.1:{client_port}"
    head_pid = cluster.head.proc.pid
    assert all(head_pid in ancestors(pid) for pid in owners), (owners, head_pid)
    log = cluster.sshd("compute-0").log_text()
    assert f"Accepted publickey for {cluster.outputs.ssh_user} from 127.0.0.1 port {client_port}" in log


def test_one_tcp_connection_to_the_head_for_many_computes(cluster: Cluster, pool: Pool) -> None:
    with ThreadPoolExecutor(4) as executor:
        clients = list(executor.map(pool.client, COMPUTE_NAMES))
    outputs = [run(c, "hostname >/dev/null && echo ok", step="probe").stdout for c in clients]
    assert outputs == ["ok\n"] * 4
    assert len({id(c) for c in clients}) == 4
    assert _settles(lambda: len(established_to(cluster.head.port)) == 1)
    for sshd in cluster.computes:
        # each compute: one connection (from the head's sshd); earlier tests' ones may still be closing
        assert _settles(lambda sshd=sshd: len(established_to(sshd.port)) == 1)


def _settles(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_clients_are_cached_and_head_connects_once(cluster: Cluster, pool: Pool) -> None:
    head = pool.head()
    assert pool.head() is head and pool.client("head") is head
    compute = pool.client("compute-1")
    assert pool.client("compute-1") is compute
    assert pool.head() is head


def test_reset_head_reconnects_everything(cluster: Cluster, pool: Pool) -> None:
    head = pool.head()
    compute = pool.client("compute-2")
    pool.reset("head")
    assert head.get_transport() is None or not head.get_transport().is_active()
    new_head = pool.head()
    assert new_head is not head
    new_compute = pool.client("compute-2")
    assert new_compute is not compute
    assert run(new_compute, "echo back", step="echo").stdout == "back\n"
    assert _settles(lambda: len(established_to(cluster.head.port)) == 1)


def test_a_dead_head_is_noticed_without_reset(cluster: Cluster, pool: Pool) -> None:
    head = pool.head()
    compute = pool.client("compute-3")
    head.get_transport().close()  # the connection drops
    new_compute = pool.client("compute-3")
    assert new_compute is not compute and pool.head() is not head
    assert run(new_compute, "echo alive", step="echo").stdout == "alive\n"


def test_reset_without_name_drops_only_dead_connections(cluster: Cluster, pool: Pool) -> None:
    head = pool.head()
    first = pool.client("compute-0")
    second = pool.client("compute-1")
    second.get_transport().close()
    pool.reset()
    assert pool.head() is head and pool.client("compute-0") is first
    assert pool.client("compute-1") is not second


def test_handshakes_are_capped(cluster: Cluster) -> None:
    class Counting:
        def __init__(self, cap: int) -> None:
            self.sem = threading.BoundedSemaphore(cap)
            self.lock = threading.Lock()
            self.now = self.peak = 0

        def __enter__(self) -> None:
            self.sem.acquire()
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            time.sleep(0.05)

        def __exit__(self, *exc: object) -> None:
            with self.lock:
                self.now -= 1
            self.sem.release()

    with Pool(cluster.outputs, ports=cluster.ports, deadline=15, max_handshakes=2) as pool:
        counting = Counting(2)
        pool._handshakes = counting  # type: ignore[assignment]
        with ThreadPoolExecutor(4) as executor:
            clients = list(executor.map(pool.client, COMPUTE_NAMES))
        assert all(c.get_transport().is_active() for c in clients)
        assert counting.peak == 2


def test_wrong_compute_key_through_the_head(cluster: Cluster, tmp_path: Path) -> None:
    wrong = keygen(tmp_path / "wrong")
    computes = [c.model_copy(update={"host_key": wrong}) if c.name == "compute-1" else c
                for c in cluster.outputs.computes]
    outputs = cluster.outputs.model_copy(update={"computes": computes})
    with Pool(outputs, ports=cluster.ports, deadline=15) as pool, pytest.raises(HostKeyMismatch) as caught:
        pool.client("compute-1")
    assert caught.value.node == "compute-1" and "via head" in str(caught.value)


def test_unknown_node_and_closed_pool(cluster: Cluster) -> None:
    pool = Pool(cluster.outputs, ports=cluster.ports)
    with pytest.raises(RemoteError) as caught:
        pool.client("compute-99")
    assert "compute-99" in str(caught.value) and "compute-0" in str(caught.value)
    pool.close()
    with pytest.raises(RemoteError):
        pool.head()
