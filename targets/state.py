"""Where environments keep their files: one folder per environment under the state root.

Root keeps ``/var/lib/cloud-hpc-toolkit`` (the local target needs root anyway); anyone else gets a folder of
their own under the XDG state home, so a user on a laptop can deploy to a cloud; ``CHPC_STATE_DIR`` overrides
both. An environment's name becomes a path here, so it is checked against the spec's name rule first and the
folder must lie inside the root: ``''``, ``..`` or ``a/b`` never reach the file system. Folders are 0700 and
files 0600: they hold private keys, munge keys and the pinned host keys.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from spec import state_format
from spec.environment import NAME_ALLOWED, NAME_PATTERN
from spec.errors import brief_repr
from targets.errors import TargetError, UsageError

STATE_DIR_ENV = "CHPC_STATE_DIR"
SYSTEM_ROOT = Path("/var/lib/cloud-hpc-toolkit")
OUTPUTS = "outputs.json"  # the outputs contract, as `up` or the stack gave it
DEPLOYMENT = "deployment.json"  # a cloud environment's stack, written before its deployment starts
JOURNAL = "journal.json"  # what a local `up` built so far
LOCK = "lock"  # held by the `up` or `destroy` running on the environment; names its pid
_NAME = re.compile(NAME_PATTERN)
T = TypeVar("T")


def state_root() -> Path:
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return SYSTEM_ROOT
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cloud-hpc-toolkit"


def check_name(name: str) -> str:
    """``name`` if it is a valid environment name, else one line saying what is allowed."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"environment name {brief_repr(name)}: allowed: {NAME_ALLOWED}")
    return name


def env_dir(name: str) -> Path:
    """The environment's folder; never outside the state root, whatever ``name`` holds."""
    root = state_root()
    path = root / check_name(name)
    if path.resolve().parent != root.resolve():
        raise UsageError(f"environment name {name!r}: its folder {path} would lie outside {root}")
    return path


def make_env_dir(name: str) -> Path:
    """The environment's folder, created 0700 (and the root 0700 when this call creates it)."""
    root = state_root()
    if not root.exists():
        root.mkdir(mode=0o700, parents=True)
    path = env_dir(name)
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically with mode 0600 (a reader never sees half a file; flushed to disk before the rename,
    so a crash leaves the old file or the new, never an empty one)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def write_state(path: Path, data: dict[str, object]) -> None:
    """A state file: ``data`` stamped with this version's format, written as :func:`write_private` does."""
    write_private(path, state_format.dumps(data))


def read_state(path: Path, remedy: str, known: set[str] | None = None) -> dict[str, object]:
    """The fields of a state file; one line naming the file, what is wrong and ``remedy`` when this version cannot
    read it (damaged, another version's format, or a field outside ``known``)."""
    try:
        data = state_format.read(path)
        if known is not None:
            state_format.unknown_fields(path, data, known)
    except state_format.StateFileError as exc:
        raise TargetError(f"{exc}; {remedy}") from None
    return data


def read_typed(path: Path, remedy: str, kind: type[T], known: set[str]) -> T:
    """The state file at ``path`` as a ``kind`` (a dataclass or a pydantic model), its fields checked as the type
    declares them; one line as :func:`read_state` says otherwise."""
    data = read_state(path, remedy, known)
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise TargetError(f"{path} is damaged ({where}: {first['msg']}); {remedy}") from None


def destroy_remedy(name: str) -> str:
    """What to do with an environment whose state this version cannot read."""
    return f"`invoke destroy --name {name}` takes the environment down"


def outputs_path(name: str) -> Path:
    return env_dir(name) / OUTPUTS


def known_environments() -> list[str]:
    """Environments this machine knows: up, being built, or recorded before a deployment that may have died."""
    root = state_root()
    if not root.is_dir():
        return []
    names = {p.parent.name for marker in (OUTPUTS, DEPLOYMENT, JOURNAL) for p in root.glob(f"*/{marker}")}
    return sorted(name for name in names if _NAME.fullmatch(name))
