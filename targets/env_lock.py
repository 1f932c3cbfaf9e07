"""One `up` or `destroy` at a time per environment.

Two at once would each take the other's nodes for its own: a second `up` that fails rolls back, and its rollback
would tear down the first one's cluster. The lock is ``flock`` on a file in the environment's folder, so the kernel
releases it when its holder ends however it ends (SIGKILL included) and a stale lock cannot exist; the file names the
holder's pid and task for the one line that refuses the second. A holder may remove the file (destroy removes the
folder; a folder left holding only the lock goes when it is released): whoever locked a file no longer at the path
locks the new one instead.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from targets.errors import TargetError
from targets.state import LOCK, env_dir, make_env_dir


@contextmanager
def held(name: str, task: str) -> Iterator[None]:
    """Hold environment ``name``'s lock for ``task``; refused at once, naming the holder, while another holds it."""
    fd, path = _lock(name)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {task}\n".encode(), 0)
        yield
    finally:
        folder = env_dir(name)
        if _same_file(fd, path) and [p.name for p in folder.iterdir()] == [LOCK]:
            path.unlink()  # nothing else is kept here (a refused or failed `up`): leave no folder behind
            folder.rmdir()
        os.close(fd)


def _lock(name: str) -> tuple[int, Path]:
    while True:
        path = make_env_dir(name) / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            continue  # its holder removed the folder between our mkdir and open
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise TargetError(f"environment {name!r} is busy: {holder} holds {path}; wait for it to end, "
                              "then try again") from None
        if _same_file(fd, path):
            return fd, path
        os.close(fd)  # its holder removed it before we locked it: lock the one at the path now


def _same_file(fd: int, path: Path) -> bool:
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (found.st_dev, found.st_ino) == (mine.st_dev, mine.st_ino)


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it: ``pid task``."""
    words = os.pread(fd, 100, 0).decode(errors="replace").split()
    if len(words) == 2 and words[0].isdigit() and words[1] in ("up", "destroy"):
        return f"`invoke {words[1]}` (pid {words[0]})"
    return "another `invoke up` or `invoke destroy`"
