"""Where each downloaded result lands: the one check that local (SFTP), S3 and blob downloads share.

A result's name comes from the cluster (what a job wrote, a key anyone with access can add), so it is not a
trusted path: ``../.bashrc``, ``/etc/x`` or a name that passes through a symlink would write outside the output
folder. Every name is checked before the first byte is written, so a refused name leaves nothing half downloaded;
and object stores allow keys ``a`` and ``a/b`` together, which no file system can hold, so that too is refused by
name rather than left to a ``FileExistsError`` half way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


class UnsafeDownload(Exception):
    """A result name that cannot be written inside the output folder; ``str(err)`` is one line naming it."""


def plan_downloads(root: Path, names: Iterable[str]) -> list[tuple[str, Path]]:
    """``(name, destination)`` for each file among ``names`` (relative to the job's output), every destination
    inside the resolved folder ``root``; a name ending in ``/`` is a folder marker and only makes its folder known,
    and the empty name (an object store's marker of the output folder itself) is the root.
    Raises UnsafeDownload for the first name that is absolute, has an empty, ``.`` or ``..`` part, goes through a
    symlink, or is both a file and a folder."""
    files: dict[str, Path] = {}
    folders: dict[str, str] = {}  # each folder some name needs, and the first name that needs it
    for name in names:
        if not name:
            continue
        parts = _parts(name)
        for depth in range(1, len(parts) if not name.endswith("/") else len(parts) + 1):
            folders.setdefault("/".join(parts[:depth]), name)
        if not name.endswith("/"):
            destination = root.joinpath(*parts)
            _no_symlink(root, destination, name)
            files["/".join(parts)] = destination
    for path, name in folders.items():
        if path in files:
            raise UnsafeDownload(f"result {path!r} is both a file and a folder (it holds {name!r}); a local folder "
                                 "cannot hold both: rename one of them where the job wrote them")
    return list(files.items())


def open_destination(root: Path, destination: Path) -> BinaryIO:
    """Open ``destination`` (from plan_downloads) for writing, making its folders one by one under ``root``:
    none of them, nor the file, may be a symlink (one that appeared since the plan is refused too)."""
    relative = destination.relative_to(root)
    folder = root
    for part in relative.parts[:-1]:
        folder = folder / part
        try:
            folder.mkdir(mode=0o755)
        except FileExistsError:
            if not stat.S_ISDIR(folder.lstat().st_mode):
                raise UnsafeDownload(f"result {relative.as_posix()!r}: {folder} exists and is not a folder; "
                                     "download into a new --output folder") from None
        except OSError as err:
            raise UnsafeDownload(f"result {relative.as_posix()!r}: cannot make the folder {folder}: "
                                 f"{err.strerror}; download into a new --output folder") from err
    try:
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        raise UnsafeDownload(f"result {relative.as_posix()!r}: cannot be written to {destination}: "
                             f"{err.strerror}; download into a new --output folder") from err
    return os.fdopen(fd, "wb")


def _parts(name: str) -> list[str]:
    if name.startswith("/") or "\0" in name:
        raise UnsafeDownload(f"result {name!r} is an absolute path or holds a NUL: it would land outside the "
                             "output folder; rename it where the job wrote it")
    parts = name.removesuffix("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeDownload(f"result {name!r} has an empty, '.' or '..' part: it would land outside the output "
                             "folder or on another result; rename it where the job wrote it")
    return parts


def _no_symlink(root: Path, destination: Path, name: str) -> None:
    """No part of the way from ``root`` to ``destination`` that exists already is a symlink."""
    path = root
    for part in destination.relative_to(root).parts:
        path = path / part
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        except OSError as err:  # a part longer than the file system allows, say
            raise UnsafeDownload(f"result {name!r} cannot be a path under {root}: {err.strerror}; rename it where "
                                 "the job wrote it") from err
        if stat.S_ISLNK(mode):
            raise UnsafeDownload(f"result {name!r} would be written through the symlink {path}, which may lead "
                                 "outside the output folder; download into a new --output folder")
