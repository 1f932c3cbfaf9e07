"""The SSH connections of one environment: one TCP connection to the head, everything else through it.

The head is the only address the user's machine reaches (compute nodes sit in a private subnet), so a
compute node is reached over a ``direct-tcpip`` channel on the head's one transport. That also keeps
the head's sshd far from MaxStartups however many nodes are opened at once; a semaphore still caps
concurrent handshakes (each one makes the head's sshd open a TCP connection to a compute node).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

import paramiko

from remote import ssh
from remote.errors import RemoteError
from spec.outputs import Outputs


@dataclass
class _Conn:
    client: paramiko.SSHClient
    via: paramiko.Transport | None  # the head transport a jumped connection rides on


class Pool:
    """Lazily opened, cached, thread-safe SSH clients for every node of ``outputs``.

    ``ports`` overrides the SSH port per node name (default 22): for the head it is the port this
    machine connects to, for a compute node the port the head's sshd forwards to. Tests use it to reach
    several sshds on 127.0.0.1; real environments leave it empty. ``retry_auth`` retries refused logins until
    the deadline (see ``ssh.connect``): only for nodes that may still be booting.
    """

    def __init__(
        self,
        outputs: Outputs,
        *,
        ports: dict[str, int] | None = None,
        key_path: str | None = None,
        user: str | None = None,
        deadline: float = 120.0,
        max_handshakes: int = 8,
        keepalive: int = 15,
        retry_auth: bool = False,
    ) -> None:
        self.outputs = outputs
        self.user = user or outputs.ssh_user
        self.key_path = key_path or outputs.ssh_private_key
        self.deadline = deadline
        self.keepalive = keepalive
        self.retry_auth = retry_auth
        self._ports = dict(ports or {})
        self._head = outputs.cluster_head().name
        self._locks = {node.name: threading.Lock() for node in outputs.nodes()}
        self._mutex = threading.Lock()  # guards _conns; never held while connecting
        self._conns: dict[str, _Conn] = {}
        self._handshakes = threading.BoundedSemaphore(max_handshakes)
        self._closed = False

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def head_name(self) -> str:
        """The name of the head node (the one the pool connects to directly)."""
        return self._head

    def port(self, name: str) -> int:
        return self._ports.get(name, 22)

    def head(self, *, deadline: float | None = None) -> paramiko.SSHClient:
        """The one client connected to the head (connected on first use, reconnected after a reset)."""
        return self.client(self._head, deadline=deadline)

    def client(self, name: str, *, deadline: float | None = None) -> paramiko.SSHClient:
        """A connected client for node ``name``: the head directly, any other node through the head.

        ``deadline``: seconds a connection made now may take (default: the pool's), so a caller with its own
        deadline does not wait past it."""
        if self._closed:
            raise RemoteError(name, "connect", "the connection pool is closed", "open a new Pool")
        lock = self._locks.get(name)
        if lock is None:
            known = ", ".join(self._locks)
            raise RemoteError(name, "connect", f"no node named {name!r} in environment "
                              f"{self.outputs.name!r} (nodes: {known})", "use one of the node names listed")
        with lock:
            with self._mutex:
                conn = self._conns.get(name)
                if conn is not None and self._alive(conn):
                    return conn.client
                if conn is not None:
                    del self._conns[name]
            if conn is not None:
                conn.client.close()
            within = self.deadline if deadline is None else deadline
            conn = self._connect_head(within) if name == self._head else self._connect_jumped(name, within)
            with self._mutex:
                self._conns[name] = conn
            return conn.client

    def reset(self, name: str | None = None) -> None:
        """Forget connections so the next ``client()`` reconnects.

        ``reset(name)`` closes that node's connection whatever its state (resetting the head also closes
        every connection tunnelled through it); ``reset()`` closes only the connections that are dead.
        """
        with self._mutex:
            if name is None:
                victims = [n for n, conn in self._conns.items() if not self._alive(conn)]
            elif name == self._head:
                victims = list(self._conns)
            else:
                victims = [name] if name in self._conns else []
            dropped = [self._conns.pop(n) for n in victims]
        for conn in dropped:
            conn.client.close()

    def close(self) -> None:
        """Close every connection (tunnelled ones first, the head last)."""
        self._closed = True
        with self._mutex:
            conns = list(self._conns.items())
            self._conns.clear()
        for _, conn in sorted(conns, key=lambda item: item[0] == self._head):
            conn.client.close()

    # -- internals ------------------------------------------------------------------------------------

    def _alive(self, conn: _Conn) -> bool:
        """Called with ``_mutex`` held."""
        transport = conn.client.get_transport()
        if transport is None or not transport.is_active():
            return False
        if conn.via is None:
            return True
        head = self._conns.get(self._head)
        return head is not None and head.client.get_transport() is conn.via and conn.via.is_active()

    def _connect_head(self, deadline: float) -> _Conn:
        node = self.outputs.cluster_head()
        client = ssh.connect(node, self.user, self.key_path, port=self.port(node.name), deadline=deadline,
                             keepalive=self.keepalive, retry_auth=self.retry_auth)
        return _Conn(client, None)

    def _connect_jumped(self, name: str, deadline: float) -> _Conn:
        node = self.outputs.node(name)
        port = self.port(name)
        started = time.monotonic()
        head_transport = self.head(deadline=deadline).get_transport()
        if head_transport is None:
            raise RemoteError(name, "connect", f"the connection to {self._head} is closed",
                              "reset the pool and retry")

        def open_sock() -> paramiko.Channel:
            return head_transport.open_channel("direct-tcpip", (node.address, port), ("127.0.0.1", 0),
                                               timeout=ssh.ATTEMPT_TIMEOUT)

        client = ssh.connect(node, self.user, self.key_path, port=port, open_sock=open_sock,
                             deadline=max(0.0, deadline - (time.monotonic() - started)), gate=self._handshakes,
                             via=self._head, keepalive=self.keepalive, retry_auth=self.retry_auth)
        return _Conn(client, head_transport)
