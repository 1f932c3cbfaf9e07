"""Moving files to and from a node over SFTP, with errors that name the node and the file.

SFTP instead of ``cat > file`` so binary files and modes survive, and no shell quoting is involved.
``put_text`` writes to a temporary name and renames, so a reader never sees half a file.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko

from remote.download_paths import UnsafeDownload, open_destination, plan_downloads
from remote.errors import ConnectionLost, RemoteError
from remote.ssh import node_of

SFTP_TIMEOUT = 120.0  # per SFTP request: a node that does not answer for this long is treated as gone


@contextmanager
def _sftp(client: paramiko.SSHClient, node: str, step: str) -> Iterator[paramiko.SFTPClient]:
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(SFTP_TIMEOUT)
    except (paramiko.SSHException, EOFError, OSError) as err:
        raise ConnectionLost(node, step, f"cannot open an SFTP session: {err}",
                             "check that the node is up and its sshd has the sftp subsystem") from err
    try:
        yield sftp
    finally:
        sftp.close()


def dropped(err: BaseException) -> bool:
    """Whether an SFTP call failed because the connection went (rather than for the file: missing, denied)."""
    return isinstance(err, TimeoutError | paramiko.SSHException | EOFError) or (
        isinstance(err, OSError) and err.errno is None and "closed" in str(err).lower())


def _fail(node: str, step: str, err: BaseException, hint: str) -> RemoteError:
    if isinstance(err, TimeoutError):
        return ConnectionLost(node, step, f"no answer from the node for {SFTP_TIMEOUT:g}s",
                              "check that the node is up; re-running the task reconnects")
    if dropped(err):
        return ConnectionLost(node, step, f"the SSH connection dropped: {err}",
                              "re-run the task to reconnect")
    return RemoteError(node, step, str(err) or type(err).__name__, hint)


def put(
    client: paramiko.SSHClient, local: Path, remote: str, mode: int | None = None, *, node: str | None = None
) -> None:
    """Copy ``local`` to ``remote``; ``mode`` defaults to the local file's permission bits."""
    name = node or node_of(client)
    step = f"upload {Path(local).name}"
    local = Path(local)
    if not local.is_file():
        raise RemoteError(name, step, f"{local} does not exist on this machine", "check the local path")
    with _sftp(client, name, step) as sftp:
        try:
            sftp.put(str(local), remote, confirm=True)
            sftp.chmod(remote, mode if mode is not None else stat.S_IMODE(local.stat().st_mode))
        except (OSError, EOFError, paramiko.SSHException) as err:
            raise _fail(name, step, err, f"check that the directory of {remote} exists and is writable "
                        f"on {name}") from err


def put_text(
    client: paramiko.SSHClient, text: str, remote: str, mode: int = 0o600, *, node: str | None = None
) -> None:
    """Write ``text`` to ``remote`` atomically (temp file + rename) with ``mode`` set before any byte."""
    name = node or node_of(client)
    step = f"write {posixpath.basename(remote)}"
    tmp = f"{remote}.tmp"
    with _sftp(client, name, step) as sftp:
        try:
            with sftp.open(tmp, "w") as handle:
                sftp.chmod(tmp, mode)
                handle.write(text.encode())
            sftp.posix_rename(tmp, remote)
        except (OSError, EOFError, paramiko.SSHException) as err:
            raise _fail(name, step, err, f"check that the directory of {remote} exists and is writable "
                        f"on {name}") from err


def get_text(client: paramiko.SSHClient, remote: str, *, node: str | None = None) -> str:
    """Read a text file from the node; a missing file is a RemoteError that says so."""
    name = node or node_of(client)
    step = f"read {posixpath.basename(remote)}"
    with _sftp(client, name, step) as sftp:
        try:
            with sftp.open(remote, "r") as handle:
                return handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError as err:
            raise RemoteError(name, step, f"{remote} does not exist on {name}",
                              "the step that writes it has not run or failed; run it first") from err
        except (OSError, EOFError, paramiko.SSHException) as err:
            raise _fail(name, step, err, f"check the permissions of {remote} on {name}") from err


def get_files(client: paramiko.SSHClient, remote_dir: str, relatives: list[str], local_dir: Path, *,
              node: str | None = None) -> None:
    """Copy ``remote_dir/<relative>`` into ``local_dir`` for each relative path, over one SFTP session; every
    destination is checked first to stay inside ``local_dir`` (remote/download_paths.py)."""
    name = node or node_of(client)
    step = f"download {remote_dir}"
    local_dir.mkdir(parents=True, exist_ok=True)
    root = local_dir.resolve()
    try:
        planned = plan_downloads(root, relatives)
    except UnsafeDownload as err:
        raise RemoteError(name, step, f"{err}; nothing was downloaded",
                          f"the results stay in {remote_dir} on {name}") from err
    with _sftp(client, name, step) as sftp:
        for relative, target in planned:
            try:
                with open_destination(root, target) as out:
                    sftp.getfo(posixpath.join(remote_dir, relative), out)
            except UnsafeDownload as err:
                raise RemoteError(name, step, str(err), f"the results stay in {remote_dir} on {name}") from err
            except FileNotFoundError as err:
                raise RemoteError(name, step, f"{remote_dir}/{relative} does not exist on {name}",
                                  "the job that writes it has not run or failed") from err
            except (OSError, EOFError, paramiko.SSHException) as err:
                raise _fail(name, step, err, f"check that {local_dir} is writable") from err


def exists(client: paramiko.SSHClient, remote: str, *, node: str | None = None) -> bool:
    """Whether ``remote`` exists on the node."""
    name = node or node_of(client)
    with _sftp(client, name, f"stat {remote}") as sftp:
        try:
            sftp.stat(remote)
            return True
        except FileNotFoundError:
            return False
        except (OSError, EOFError, paramiko.SSHException) as err:
            raise _fail(name, f"stat {remote}", err, f"check the permissions of {remote}") from err


def mkdir_p(client: paramiko.SSHClient, remote: str, mode: int = 0o755, *, node: str | None = None) -> None:
    """Create ``remote`` and its missing parents (like ``mkdir -p``); existing directories are kept."""
    name = node or node_of(client)
    step = f"mkdir {remote}"
    with _sftp(client, name, step) as sftp:
        _mkdir_p(sftp, remote, mode, name, step)


def put_files(client: paramiko.SSHClient, local_dir: Path, remote_dir: str, mode: int | None = None, *,
              node: str | None = None) -> None:
    """Copy the tree under ``local_dir`` to ``remote_dir`` over one SFTP session (an upload of many files is
    not a session per file): its folders are made as by ``mkdir -p``, and each file gets ``mode``, by default
    its local permission bits, as :func:`put` gives them."""
    name = node or node_of(client)
    step = f"upload {Path(local_dir).name}"
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise RemoteError(name, step, f"{local_dir} is not a folder on this machine", "check the local path")
    with _sftp(client, name, step) as sftp:
        _mkdir_p(sftp, remote_dir, 0o755, name, step)
        for folder, subfolders, names in os.walk(local_dir):
            relative = Path(folder).relative_to(local_dir).as_posix()
            here = remote_dir if relative == "." else posixpath.join(remote_dir, relative)
            for sub in subfolders:  # os.walk goes top-down: the parent is there, one mkdir each is enough
                _mkdir(sftp, posixpath.join(here, sub), 0o755, name, step)
            for file in names:
                local, remote = Path(folder) / file, posixpath.join(here, file)
                try:
                    sftp.put(str(local), remote, confirm=True)
                    sftp.chmod(remote, mode if mode is not None else stat.S_IMODE(local.stat().st_mode))
                except (OSError, EOFError, paramiko.SSHException) as err:
                    raise _fail(name, step, err, f"check that {local} is readable here and {remote} is writable "
                                f"on {name}") from err


def _mkdir_p(sftp: paramiko.SFTPClient, remote: str, mode: int, name: str, step: str) -> None:
    path = ""
    for part in remote.split("/"):
        if not part:
            path = path or "/"
            continue
        path = posixpath.join(path, part) if path else part
        _mkdir(sftp, path, mode, name, step)


def _mkdir(sftp: paramiko.SFTPClient, path: str, mode: int, name: str, step: str) -> None:
    """Make one folder whose parent exists; a folder already there is fine, anything else is not."""
    try:
        if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
            return
        raise RemoteError(name, step, f"{path} exists and is not a directory", f"remove or rename {path} on {name}")
    except FileNotFoundError:
        pass
    except (OSError, EOFError, paramiko.SSHException) as err:
        raise _fail(name, step, err, f"check the permissions of {path}") from err
    try:
        sftp.mkdir(path, mode)
    except OSError as err:
        # another node or thread may have created it meanwhile
        if err.errno == errno.EEXIST or _is_dir(sftp, path):
            return
        raise _fail(name, step, err, f"check the permissions of {posixpath.dirname(path)}") from err
    except (EOFError, paramiko.SSHException) as err:
        raise _fail(name, step, err, "re-run the task") from err


def _is_dir(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except OSError:
        return False
