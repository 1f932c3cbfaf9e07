"""Reading a spec file without trusting what the path names: a regular file of bounded size, or one line.

A FIFO would block ``open`` until a writer comes, ``/dev/zero`` never ends and a huge file fills memory, so
the file is opened non-blocking, checked to be a regular file on the open descriptor (no window for a swap
between a check and the open), and read only up to :data:`MAX_SPEC_BYTES` plus one byte.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from spec.errors import SpecError, brief_repr

# The largest example spec is about 1 KB; 64 KiB leaves room for any real spec and parses in well under a second.
MAX_SPEC_BYTES = 64 * 1024

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket"}


def read_spec_text(path: Path) -> str:
    """The UTF-8 text of the regular file at ``path``; :class:`SpecError` with one line for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SpecError(f"spec error: {path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO some systems refuse to open without a writer
            raise SpecError(f"spec error: {path}: not a regular file; give a YAML file") from None
        raise SpecError(f"spec error: {path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL in the path
        raise SpecError(f"spec error: {brief_repr(str(path))}: not a file name (it holds a NUL)") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SpecError(f"spec error: {path}: is a directory, not a file")
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "a special file")
            raise SpecError(f"spec error: {path}: is {kind}, not a regular file; give a YAML file")
        data = _read_at_most(fd, MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"spec error: {path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SPEC_BYTES:
        raise too_large(str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"spec error: {path}: not UTF-8 text") from None


def too_large(source: str) -> SpecError:
    return SpecError(f"spec error: {source}: larger than {MAX_SPEC_BYTES // 1024} KiB; a spec is a few KB")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
