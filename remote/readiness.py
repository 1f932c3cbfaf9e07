"""Wait until nodes have finished their first boot, as each reports it in its status file, read over SSH.

Why: a node is "running" long before it is usable: its boot script is still creating the SSH user, installing
the roles, starting Slurm. Every node's boot script marks its end (done, or failed at a step) in the status file
``spec/boot_status.py`` defines; this reads it through the environment's Pool (the head directly, the others
through it) until every node asked for is done. While a node boots, refused connections, timeouts and refused
logins (its user and key may not exist yet) are retried until the deadline; a host-key mismatch is raised at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import paramiko

from remote.errors import HostKeyMismatch, RemoteError
from remote.pool import Pool
from spec.boot_status import STATUS_FILE, BootStatus, parse

POLL = 2.0  # seconds between two reads of a node's status
CONNECT_SLICE = 30.0  # a connection attempt gives up after this long, so a node's progress is said again
GRACE = 5.0  # at the deadline, how long the reads under way may still take to say how far their node got
MAX_WORKERS = 32
SHOWN = 3  # nodes named in a progress line


@dataclass(frozen=True)
class NodeBoot:
    """What is known of one node's boot: its last status (None: none read yet), whether SSH ever got through,
    and, while it does not, why not."""

    name: str
    status: BootStatus | None = None
    reached: bool = False
    unreachable: str = ""

    @property
    def done(self) -> bool:
        return self.status is not None and self.status.state == "done"

    def describe(self) -> str:
        if self.status is None:
            if self.unreachable:
                return f"{self.name} not reachable yet ({self.unreachable})"
            return f"{self.name} booting (no status yet)" if self.reached else f"{self.name} not reached yet"
        if self.status.state == "running":
            return f"{self.name} at '{self.status.step}'"
        return f"{self.name} {self.status.state}" + (f" at '{self.status.step}'" if self.status.state == "failed"
                                                     else "")


@dataclass(frozen=True)
class BootProgress:
    """Every node's boot as last seen, in the order asked; ``line()`` is what a status line shows."""

    head: str
    nodes: Mapping[str, NodeBoot]

    def line(self) -> str:
        """e.g. "head done; 2/4 computes done; booting: compute-1 at 'configuring this node', ..."."""
        parts = [self.nodes[self.head].describe()] if self.head in self.nodes else []
        others = [boot for name, boot in self.nodes.items() if name != self.head]
        if others:
            booting = [boot for boot in others if not boot.done]
            counted = f"{len(others) - len(booting)}/{len(others)} computes done"
            if booting:
                named = ", ".join(boot.describe() for boot in booting[:SHOWN])
                more = f" and {len(booting) - SHOWN} more" if len(booting) > SHOWN else ""
                counted += f"; booting: {named}{more}"
            parts.append(counted)
        return "; ".join(parts)


class BootFailed(RemoteError):
    """A node's boot script failed: names the node, the step and the node's boot log."""

    def __init__(self, node: str, failed_step: str, log: str) -> None:
        self.failed_step = failed_step
        self.log = log
        super().__init__(node, "boot", f"its boot script failed at '{failed_step}'; log: {log} on {node} (root only)",
                         f"read it with `sudo cat {log}` on {node}, fix the cause, then up again")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # type: ignore[override]
        return (type(self), (self.node, self.failed_step, self.log))


class BootTimeout(RemoteError):
    """Nodes had not finished booting by the deadline: names each and how far it got."""

    def __init__(self, unfinished: Sequence[NodeBoot], timeout: float) -> None:
        self.unfinished = list(unfinished)
        self.timeout = timeout
        super().__init__(", ".join(boot.name for boot in unfinished), "wait for boot",
                         f"not done after {timeout:.0f} s: " + "; ".join(boot.describe() for boot in unfinished),
                         "a node still at a step may need a longer timeout (see its boot log); one not reachable: "
                         "check that it runs and that its network lets SSH through")

    def __reduce__(self) -> tuple[type, tuple[list[NodeBoot], float]]:  # type: ignore[override]
        return (type(self), (self.unfinished, self.timeout))


def wait_for_boot(pool: Pool, names: Sequence[str], *, timeout: float,
                  on_progress: Callable[[BootProgress], None] | None = None, poll: float = POLL) -> None:
    """Return once every node of ``names`` reports its boot done.

    Raises ``BootFailed`` for the first node found failed, ``BootTimeout`` at the deadline, ``HostKeyMismatch``
    as soon as a node offers another host key. ``on_progress`` is called (in this thread) whenever news arrives.
    ``pool`` must retry refused logins (``Pool(..., retry_auth=True)``): a booting node refuses them for a while.
    """
    if not pool.retry_auth:
        raise ValueError("wait_for_boot needs a Pool(retry_auth=True): a booting node refuses logins until its "
                         "boot has created the user")
    deadline = time.monotonic() + timeout
    known = {name: NodeBoot(name) for name in names}
    stop = threading.Event()

    reader = _Reader(pool, deadline)

    def check(name: str, delay: float) -> NodeBoot:
        if stop.wait(max(0.0, min(delay, deadline - time.monotonic()))):
            return known[name]
        return reader.read(known[name])

    executor = ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(names))), thread_name_prefix="boot")
    pending: dict[Future[NodeBoot], str] = {executor.submit(check, name, 0.0): name for name in names}
    try:
        while pending:
            left = deadline - time.monotonic()
            finished, _ = wait(pending, timeout=left if left > 0 else GRACE,
                               return_when=FIRST_COMPLETED if left > 0 else ALL_COMPLETED)
            for future in finished:
                name = pending.pop(future)
                known[name] = future.result()
                status = known[name].status
                if status is not None and status.state == "failed":
                    raise BootFailed(name, status.step, status.log)
                if not known[name].done and time.monotonic() < deadline:
                    pending[executor.submit(check, name, poll)] = name
            if finished and on_progress is not None:
                on_progress(BootProgress(pool.head_name(), dict(known)))
            if left <= 0:
                break
        unfinished = [boot for boot in known.values() if not boot.done]
        if unfinished:
            raise BootTimeout(unfinished, timeout)
    finally:
        stop.set()
        executor.shutdown(wait=False, cancel_futures=True)
        reader.close()


class _Reader:
    """Reads each node's status file over an SFTP session kept open per node: a read then starts no process on
    the node (a command per read costs sshd about 0.1 s of CPU, which nodes booting on few cores feel)."""

    def __init__(self, pool: Pool, deadline: float) -> None:
        self.pool = pool
        self.deadline = deadline
        self.sessions: dict[str, paramiko.SFTPClient] = {}  # one reader thread per node at a time

    def read(self, last: NodeBoot) -> NodeBoot:
        """One read of a node's status; an unreachable node keeps its last status and says why."""
        name = last.name
        remaining = self.deadline - time.monotonic()
        try:
            client = self.pool.client(name, deadline=max(0.0, min(CONNECT_SLICE, remaining)))
        except HostKeyMismatch:
            raise
        except RemoteError as err:
            if err.step != "connect":
                raise  # the user's key or the pinned key is unusable: waiting will not mend it
            return NodeBoot(name, last.status, last.reached, _reason(name, err))
        try:
            session = self.sessions.get(name)
            if session is None or session.get_channel().get_transport() is not client.get_transport():
                session = self.sessions[name] = client.open_sftp()
                session.get_channel().settimeout(CONNECT_SLICE)
            with session.open(STATUS_FILE) as status:
                text = status.read().decode(errors="replace")
        except FileNotFoundError:
            text = ""  # the boot script has not started yet
        except (paramiko.SSHException, EOFError, OSError) as err:  # the connection dropped, or a node's sshd restarted
            self.sessions.pop(name, None)
            self.pool.reset(name)
            return NodeBoot(name, last.status, last.reached, f"cannot read {STATUS_FILE}: {err or type(err).__name__}")
        return NodeBoot(name, parse(text), reached=True)

    def close(self) -> None:
        """Reader threads still running after a BootFailed may add a session meanwhile: close a snapshot (the pool
        closes a later one with its connection)."""
        for session in list(self.sessions.values()):
            session.close()


def _reason(name: str, err: RemoteError) -> str:
    return err.detail if err.node == name else f"through {err.node}: {err.detail}"
