"""One SSH connection to one node, with the host key pinned from the outputs and retries while it boots.

Why pinned: the outputs carry each node's host key, so a first connection never has to trust whatever
key it is offered (no trust on first use, no known_hosts). Why retries: right after ``up`` a node may not be
listening yet, so refused/timeout/banner errors are retried with capped exponential backoff until a total
deadline. A wrong host key is never retried: waiting does not fix it. A refused login is retried only when
the caller says the node may still be booting (``retry_auth``: its boot creates the user and installs the key);
for an ordinary task it means a wrong key or user, and is said at once.
"""

from __future__ import annotations

import base64
import logging
import random
import socket
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import paramiko

from remote.errors import ConnectionLost, HostKeyMismatch, RemoteError
from spec.outputs import Node

SockLike = Any  # a socket.socket or a paramiko.Channel (anything paramiko.Transport accepts)

FIRST_DELAY = 0.25
MAX_DELAY = 5.0
ATTEMPT_TIMEOUT = 15.0

# paramiko logs each refused direct-tcpip channel ("Secsh channel 3 open FAILED") at ERROR, which Python's
# last-resort handler prints to stderr, once per retry; every failure here is raised as one line of its own instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_NODE_OF: weakref.WeakKeyDictionary[paramiko.SSHClient, str] = weakref.WeakKeyDictionary()


def node_of(client: paramiko.SSHClient) -> str:
    """The node name a client was connected to by :func:`connect` (for error messages)."""
    name = _NODE_OF.get(client)
    if name is not None:
        return name
    transport = client.get_transport()
    if transport is not None:
        try:
            host, port = transport.getpeername()[:2]
            return f"{host}:{port}"
        except (OSError, TypeError, ValueError):
            pass
    return "unknown node"


def fingerprint(key: paramiko.PKey) -> str:
    """SHA256 fingerprint as OpenSSH prints it: ``SHA256:<base64 without padding>``."""
    return key.fingerprint


def parse_host_key(line: str, *, node: str = "") -> paramiko.PKey:
    """Parse an OpenSSH public key line ("ssh-ed25519 AAAA... [comment]") from the outputs."""
    parts = line.split()
    if len(parts) < 2:
        raise RemoteError(node, "pin host key", f"the pinned host key {line!r} is not 'TYPE BASE64'",
                          "run `invoke up` again to rewrite the outputs")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (ValueError, paramiko.SSHException, paramiko.UnknownKeyType) as err:  # binascii.Error too
        raise RemoteError(node, "pin host key", f"cannot parse the pinned host key {line!r}: {err}",
                          "run `invoke up` again to rewrite the outputs") from err


def load_private_key(key_path: str | Path, *, node: str = "") -> paramiko.PKey:
    """Load the user's private key (ed25519, RSA or ECDSA, OpenSSH or PEM format)."""
    step = "load private key"
    try:
        return paramiko.PKey.from_path(Path(key_path).expanduser())
    except FileNotFoundError as err:
        raise RemoteError(node, step, f"{key_path} does not exist",
                          "check ssh_private_key in the outputs; `invoke up` writes it") from err
    except (paramiko.PasswordRequiredException, TypeError) as err:  # TypeError: an encrypted OpenSSH-format key
        raise RemoteError(node, step, f"{key_path} is encrypted",
                          "use an unencrypted key for the toolkit (ssh agents are not used)") from err
    except (OSError, ValueError, paramiko.SSHException, paramiko.UnknownKeyType) as err:
        raise RemoteError(node, step, f"cannot load {key_path}: {err}",
                          "use an ed25519 or RSA private key in OpenSSH or PEM format") from err


def host_key_name(address: str, port: int) -> str:
    """The name paramiko looks host keys up under: ``addr`` on port 22, else ``[addr]:port``."""
    return address if port == 22 else f"[{address}]:{port}"


def _retryable(err: BaseException) -> bool:
    """Errors a booting node produces: nothing listening yet, slow, or dropped before the banner."""
    if isinstance(err, paramiko.BadHostKeyException | paramiko.AuthenticationException):
        return False
    if isinstance(err, socket.gaierror):
        return False  # a name that does not resolve is a configuration error, not a boot race
    if isinstance(err, paramiko.ChannelException):
        return True  # the head could not reach the node yet ("Connect failed")
    if isinstance(err, paramiko.SSHException):
        text = str(err)
        return "not found in known_hosts" not in text and "session not active" not in text
    return isinstance(err, OSError | EOFError | TimeoutError)


def _back_off(end: float, delay: float) -> bool:
    """Sleep before the next attempt (jittered, capped, never past the deadline); False when no time is left."""
    sleep = min(min(delay, MAX_DELAY) * random.uniform(0.5, 1.0), end - time.monotonic())
    if sleep <= 0.01:
        return False  # the last attempt happened at the deadline
    time.sleep(sleep)
    return True


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}" if type(err).__name__ not in text else text


def connect(
    node: Node,
    user: str,
    key_path: str,
    *,
    port: int = 22,
    sock: SockLike | None = None,
    open_sock: Callable[[], SockLike] | None = None,
    deadline: float = 120.0,
    gate: AbstractContextManager[Any] | None = None,
    via: str | None = None,
    keepalive: int = 15,
    retry_auth: bool = False,
) -> paramiko.SSHClient:
    """Connect to ``node`` and log in as ``user`` with the key at ``key_path``.

    The node's pinned host key is the only key accepted (``RejectPolicy`` for anything else).

    - direct: connects to ``node.address:port``; the key is pinned under ``host_key_name(address, port)``.
    - ``sock``: use this already-open socket/channel; one attempt only (a used socket cannot be retried).
    - ``open_sock``: called once per attempt for a fresh socket/channel (e.g. a direct-tcpip channel on
      the head's transport), so jumped connections are retried too. With ``sock``/``open_sock`` the key is
      pinned under the bare ``node.address`` and ``port`` is only used in messages.
    - ``gate``: held during each attempt (the pool's handshake semaphore), released while backing off.
    - ``via``: the name of the node the connection is tunnelled through (for messages).
    - ``retry_auth``: a refused login is retried until the deadline too (a booting node's user or key may not
      exist yet); off by default, so a wrong key fails at once.

    Raises :class:`HostKeyMismatch` on a wrong key and :class:`RemoteError` for everything else.
    """
    pkey = load_private_key(key_path, node=node.name)
    pinned = parse_host_key(node.host_key, node=node.name)
    tunnelled = sock is not None or open_sock is not None
    where = f"{node.address}:{port}" + (f" via {via}" if via else "")
    start = time.monotonic()
    end = start + deadline
    delay = FIRST_DELAY
    attempts = 0
    while True:
        attempts += 1
        remaining = end - time.monotonic()
        attempt_timeout = max(1.0, min(ATTEMPT_TIMEOUT, remaining))
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        lookup_port = 22 if tunnelled else port
        client.get_host_keys().add(host_key_name(node.address, lookup_port), pinned.get_name(), pinned)
        try:
            with gate if gate is not None else nullcontext():
                the_sock = sock if sock is not None else (open_sock() if open_sock is not None else None)
                client.connect(
                    node.address,
                    port=lookup_port,
                    username=user,
                    pkey=pkey,
                    sock=the_sock,
                    timeout=attempt_timeout,
                    banner_timeout=attempt_timeout,
                    auth_timeout=attempt_timeout,
                    channel_timeout=attempt_timeout,
                    allow_agent=False,
                    look_for_keys=False,
                )
        except paramiko.BadHostKeyException as err:
            client.close()
            raise HostKeyMismatch(node.name, where, fingerprint(err.expected_key),
                                  fingerprint(err.key)) from err
        except paramiko.AuthenticationException as err:
            client.close()
            if retry_auth and sock is None and _back_off(end, delay):
                delay *= 2
                continue
            tried = f" ({attempts} attempts in {time.monotonic() - start:.1f}s)" if attempts > 1 else ""
            raise RemoteError(
                node.name, "connect", f"{user}@{where} refused the key {key_path}{tried}: {err}",
                f"check that {key_path} is the key the environment was built with and that the user is "
                f"{user!r}; a node that is still booting may not have the key installed yet",
            ) from err
        except Exception as err:  # classified below, always re-raised as a RemoteError
            client.close()
            if not _retryable(err):
                if isinstance(err, paramiko.SSHException) and "session not active" in str(err):
                    jump = via or "the jump host"
                    raise ConnectionLost(node.name, "connect", f"the connection to {jump} dropped: {err}",
                                         f"reset the pool so {jump} is reconnected, then retry") from err
                raise RemoteError(node.name, "connect", f"cannot connect to {where}: {_describe(err)}",
                                  "check the address in the outputs and that sshd runs on the node") from err
            if sock is not None:
                raise RemoteError(node.name, "connect", f"cannot connect to {where}: {_describe(err)}",
                                  "retry with a fresh socket (open_sock=) so the connection can be retried"
                                  ) from err
            if not _back_off(end, delay):
                elapsed = time.monotonic() - start
                hint = (
                    f"check that {node.name} is running and that {via} can reach it on port {port}"
                    if via
                    else f"check that {node.name} is running and that port {port} is reachable from here "
                    "(firewall / security group); a node still booting may need a longer deadline"
                )
                raise RemoteError(
                    node.name, "connect",
                    f"gave up on {where} after {attempts} attempts in {elapsed:.1f}s: {_describe(err)}", hint,
                ) from err
            delay *= 2
            continue
        transport = client.get_transport()
        if transport is not None and keepalive > 0:
            transport.set_keepalive(keepalive)
        _NODE_OF[client] = node.name
        return client
