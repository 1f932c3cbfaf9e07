"""Run one command on a node and get its output and exit code, or a RemoteError that says why not.

Every command has a deadline (remote/deadlines.py): a command that passes it is a ``CommandTimeout`` naming the
node, the step and what to do, never a task blocked for good.

stdout and stderr are drained together (a full stderr cannot stall a command that is writing stdout),
and a dropped connection is reported as ``ConnectionLost`` so callers such as ``slurm.wait`` can
reconnect, while a command that merely failed is a plain ``RemoteError``.
"""

from __future__ import annotations

import select
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from remote import deadlines
from remote.errors import CommandTimeout, ConnectionLost, RemoteError
from remote.ssh import node_of

STDERR_TAIL_LINES = 20
OPEN_TIMEOUT = 60.0  # s for the node to open a session: longer is a connection gone silent
SETTLE = 1.0  # s a command without an exit status waits to see whether its connection is going down
_CHUNK = 65536


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text`` (what an error message shows of stderr)."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def as_root(argv: list[str]) -> str:
    """``argv`` as a shell command run as root: as it is for root, through ``sudo -n`` for a cloud node's user."""
    command = shlex.join(argv)
    return f'if [ "$(id -u)" = 0 ]; then {command}; else sudo -n {command}; fi'


def _lost(node: str, step: str, err: BaseException | str) -> ConnectionLost:
    return ConnectionLost(node, step, f"the SSH connection dropped: {err}",
                          "check that the node is up; re-running the task reconnects")


def run(
    client: paramiko.SSHClient,
    argv: list[str] | str,
    *,
    node: str | None = None,
    step: str,
    check: bool = True,
    timeout: float | None = None,
    stdin: str | None = None,
) -> Result:
    """Run ``argv`` (a list, joined with ``shlex.join``; or a str, passed to the remote shell as-is).

    ``node`` defaults to the name the client was connected with. ``timeout`` bounds the whole command, exit
    status included (None: ``deadlines.DEFAULT``); on expiry the channel is closed (the remote process gets
    EOF/SIGPIPE, it is not killed) and a ``CommandTimeout`` (a RemoteError) is raised. With ``check`` a non-zero
    exit raises RemoteError with the tail of stderr; a dropped connection raises ``ConnectionLost`` (also a
    RemoteError).
    """
    name = node or node_of(client)
    limit = deadlines.DEFAULT if timeout is None else timeout
    command = shlex.join(argv) if isinstance(argv, list) else argv
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise _lost(name, step, "the connection is closed")
    deadline = time.monotonic() + limit
    try:
        channel = transport.open_session(timeout=min(max(limit, 0.1), OPEN_TIMEOUT))
        channel.exec_command(command)
    except (paramiko.SSHException, EOFError, OSError) as err:
        raise _lost(name, step, err) from err
    sender = None
    if stdin is not None:
        sender = threading.Thread(target=_send_stdin, args=(channel, stdin), daemon=True)
        sender.start()
    else:
        channel.shutdown_write()
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        _drain(channel, transport, out, err, deadline)
        if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError  # its output closed, the command itself still runs
    except TimeoutError as exc:
        channel.close()
        raise CommandTimeout(name, step, f"no answer within {limit:g} s running {_short(command)}",
                             deadlines.hung(name)) from exc
    except (paramiko.SSHException, EOFError, OSError) as exc:
        channel.close()
        raise _lost(name, step, exc) from exc
    exit_code = channel.recv_exit_status()
    channel.close()
    if sender is not None:
        sender.join(timeout=5)
    if exit_code == -1:
        # no exit status: a command killed by a signal, or a dying transport, which closes its channels a moment
        # before it says it is no longer active (paramiko's Transport.run): wait for that moment before deciding
        transport.join(SETTLE)
        if not transport.is_active():
            raise _lost(name, step, "the connection closed before the command reported its exit code")
    result = Result(_decode(out), _decode(err), exit_code)
    if check and exit_code != 0:
        shown = tail(result.stderr) or tail(result.stdout) or "(no output)"
        raise RemoteError(name, step, f"{_short(command)} exited with {exit_code}:\n{shown}",
                          "fix the cause shown above and run the task again")
    return result


def _send_stdin(channel: paramiko.Channel, text: str) -> None:
    try:
        channel.sendall(text.encode())
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the reader reports the dropped connection


def _drain(
    channel: paramiko.Channel,
    transport: paramiko.Transport,
    out: list[bytes],
    err: list[bytes],
    deadline: float,
) -> None:
    """Read stdout and stderr until EOF (the channel's fileno wakes up for either), or TimeoutError."""
    while True:
        wait = max(0.0, min(0.5, deadline - time.monotonic()))
        if wait <= 0:
            raise TimeoutError
        select.select([channel], [], [], wait)
        progressed = _pull_both(channel, out, err)
        if channel.eof_received or channel.closed:
            _pull_both(channel, out, err)  # what arrived with the EOF
            return
        if not progressed and not transport.is_active():
            raise OSError("the transport is no longer active")


def _pull_both(channel: paramiko.Channel, out: list[bytes], err: list[bytes]) -> bool:
    got_out = _pull(channel.recv_ready, channel.recv, out)
    got_err = _pull(channel.recv_stderr_ready, channel.recv_stderr, err)
    return got_out or got_err


def _pull(ready: Callable[[], bool], recv: Callable[[int], bytes], sink: list[bytes]) -> bool:
    """Append whatever one stream has ready; True if anything came."""
    got = False
    while ready():
        data = recv(_CHUNK)
        if not data:
            break
        sink.append(data)
        got = True
    return got


def _decode(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", errors="replace")


def _short(command: str, limit: int = 120) -> str:
    lines = command.strip().splitlines() or [command]
    if len(lines) > 1 or len(lines[0]) > limit:
        return lines[0][:limit] + " ..."
    return lines[0]
