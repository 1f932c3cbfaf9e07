"""The host side of a local cluster's elastic nodes: Slurm's resume and suspend programs on the head
(``power_client.py``) ask it, over a unix socket, to start or stop nodes, and it does it as ``up`` and ``destroy``
do (``node_start``).

The channel is narrow on purpose. The socket lies in a folder only root and the slurm group can enter, bound into
the head alone; the agent takes a request only from a peer whose uid is root's or slurm's (``SO_PEERCRED``), and
only ``start NODE...`` naming this environment's compute nodes or ``stop NODE...`` naming those above their
partition's floor (a floor node stops only when `invoke scale` lowers the floor). ``up`` starts it (one per
environment, its pid in the journal) and ``destroy`` stops it before anything else. A node that fails to start is
taken down again and marked DOWN in Slurm with the reason, so that its job is requeued and the user sees why.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from targets.local import node, node_start
from targets.local.commands import LocalError
from targets.local.journal import Journal
from targets.state import env_dir

SOCKET = "agent.sock"
LOG = "power-agent.log"  # beside the power folder, not in it: the head sees only the socket
MAX_REQUEST = 65536  # every compute node's name, with room to spare
READY_TIMEOUT = 20.0


def start(name: str) -> int:
    """Start the agent of environment ``name`` in its own session, wait until it listens, and return its pid."""
    folder = env_dir(name) / node_start.POWER_DIR
    sock, log_path = folder / SOCKET, env_dir(name) / LOG
    sock.unlink(missing_ok=True)
    with open(log_path, "ab") as log:
        agent = subprocess.Popen([sys.executable, "-m", "targets.local.power_agent", str(env_dir(name))],
                                 cwd=node_start.PROJECT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT
    while not sock.exists():
        if agent.poll() is not None or time.monotonic() > deadline:
            agent.kill()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-2:]
            raise LocalError(f"power agent of {name!r} did not start: {' | '.join(tail) or 'no log'}; "
                             f"see {log_path}")
        time.sleep(0.05)
    return agent.pid


def running(root: Path, pid: int) -> bool:
    """Whether ``pid`` is the agent of the environment in ``root`` (not a process that took its number since)."""
    try:
        return _marker(root) in Path(f"/proc/{pid}/cmdline").read_bytes() + b"\0"
    except OSError:
        return False


def stop(root: Path, pid: int, timeout: float = 15) -> None:
    """Stop the agent of the environment in ``root`` (its journaled pid, and any other its folder names): asked to
    (SIGTERM), it ends once the start or stop under way is done, so no node is left half built; killed after
    ``timeout``."""
    pids = {pid} if pid else set()
    pids |= {int(proc.name) for proc in Path("/proc").iterdir()
             if proc.name.isdigit() and running(root, int(proc.name))}
    for how in (signal.SIGTERM, signal.SIGKILL):
        for agent in pids:
            if running(root, agent):
                with contextlib.suppress(OSError):
                    os.kill(agent, how)
        deadline = time.monotonic() + timeout
        while any(running(root, agent) for agent in pids) and time.monotonic() < deadline:
            time.sleep(0.05)


def _marker(root: Path) -> bytes:
    """What the agent's command line holds: its module and its environment's folder, as separate arguments."""
    return f"targets.local.power_agent\0{root}\0".encode()


class Agent:
    """Serves one environment's requests; starts and stops happen one at a time, in the order asked."""

    def __init__(self, root: Path) -> None:
        from targets.local.target import cluster_of, saved_spec

        env = saved_spec(root)
        self.journal = Journal.load(env.name)
        self.cluster = cluster_of(env, root, ipaddress.ip_network(self.journal.subnet), self.journal.floors)
        self.computes, self.stoppable = set(self.cluster.names[1:]), set(self.cluster.stoppable)
        self.allowed_uids = {0, pwd.getpwnam("slurm").pw_uid}
        self.lock = threading.Lock()  # one start or stop at a time: each writes the journal
        self.workers = ThreadPoolExecutor(max_workers=8)

    def answer(self, connection: socket.socket) -> None:
        """Read one request, answer it at once, then carry it out."""
        creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        connection.settimeout(10)
        request = connection.makefile("rb").readline(MAX_REQUEST).decode(errors="replace").split()
        problem = self._refusal(uid, request)
        connection.sendall((f"refused: {problem}" if problem else f"ok: {request[0]} {' '.join(request[1:])}")
                           .encode() + b"\n")
        if problem:
            log(f"refused uid {uid}: {' '.join(request)[:200]!r}: {problem}")
            return
        verb, names, asked_at = request[0], request[1:], time.time()
        for name in names:
            if verb == "start":
                self.workers.submit(self._start, name, asked_at)
            else:
                self.workers.submit(self._stop, name)

    def _refusal(self, uid: int, request: list[str]) -> str | None:
        if uid not in self.allowed_uids:
            return f"uid {uid} may not start or stop nodes"
        if len(request) < 2 or request[0] not in ("start", "stop"):
            return "ask `start NODE...` or `stop NODE...`"
        unknown = [name for name in request[1:] if name not in self.computes]
        if unknown:
            return f"not a compute node of {self.cluster.env.name}: {unknown[0][:40]}"
        kept = [name for name in request[1:] if request[0] == "stop" and name not in self.stoppable]
        if kept:
            return f"{kept[0]} is always on (its partition's floor)"
        return None

    def _start(self, name: str, asked_at: float) -> None:
        with self.lock:  # a start takes a second or two: the boot goes on in the background
            self._reload()
            if name in self.journal.inits and node.alive(self.journal.inits[name]):
                log(f"start {name}: already running")
                return
            log(f"start {name}")
            started = time.monotonic()
            try:
                node_start.start(self.cluster, name, self.journal, asked_at)
            except Exception as exc:  # a node that cannot start: take down what was made, say why in Slurm
                log(f"start {name} failed: {traceback.format_exc()}")
                self._stop_node(name)
                self._mark_down(name, f"local start failed: {exc}"[:200])
                return
            log(f"start {name}: boot started in {time.monotonic() - started:.1f} s")

    def _stop(self, name: str) -> None:
        with self.lock:
            self._reload()
            log(f"stop {name}")
            self._stop_node(name)

    def end(self) -> None:
        """Exit once no start or stop is under way (SIGTERM)."""
        with self.lock:
            log("stopped")
            os._exit(0)

    def _reload(self) -> None:
        """The journal as saved now: ``up``, `invoke scale` and an earlier agent write it too (this agent's pid,
        the floors), and a start or stop must keep what they wrote."""
        self.journal = Journal.load(self.cluster.env.name)

    def _stop_node(self, name: str) -> None:
        try:
            node_start.stop(self.cluster, name, self.journal)
        except Exception:
            log(f"stop {name} failed: {traceback.format_exc()}")

    def _mark_down(self, name: str, reason: str) -> None:
        head = self.journal.inits.get("head")
        if head is None:
            return
        node.run(head, ["scontrol", "update", f"NodeName={name}", "State=DOWN", f"Reason={reason}"],
                 f"mark {name} down", check=False)


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def serve(root: Path) -> None:
    """Listen on the environment's socket until killed."""
    agent = Agent(root)
    signal.signal(signal.SIGTERM, lambda _signal, _frame: agent.end())
    folder = root / node_start.POWER_DIR
    path = folder / SOCKET
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    partial = folder / f".{SOCKET}.{os.getpid()}"
    listener.bind(str(partial))
    os.chown(partial, 0, folder.stat().st_gid)
    os.chmod(partial, 0o660)
    listener.listen(64)
    os.replace(partial, path)  # `start` waits for the name: it appears listening
    log(f"listening on {path}; nodes it may stop: {', '.join(sorted(agent.stoppable)) or 'none'}")
    while True:
        connection, _ = listener.accept()
        with connection:
            try:
                agent.answer(connection)
            except OSError as exc:
                log(f"request dropped: {exc}")


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
