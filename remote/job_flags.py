"""The values of run-mpi's Slurm flags, checked here before anything is uploaded or submitted.

A bad ``--env``, ``--array``, ``--time`` or ``--partition`` is one line and exit code 2 at once, rather than
an sbatch error after the upload and the build. The checks follow Slurm's own syntax (``man sbatch``), so
what passes here reaches Slurm as the user wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from remote.errors import BadInput

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# sbatch --time: minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes,
# days-hours:minutes:seconds; UNLIMITED and INFINITE mean no limit
_TIME = re.compile(r"\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2}|UNLIMITED|INFINITE")
_ARRAY_PART = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")
_PARTITION = re.compile(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*")
# Slurm's MaxArraySize (slurm.conf; the slurm role keeps its default): task indices are below it. Checked before the
# indices are counted, so `--array 0-999999999` is one line rather than a billion indices in memory.
MAX_ARRAY_SIZE = 1001


def parse_env(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` items as a mapping; the value is everything after the first ``=``, kept exactly (spaces,
    quotes and ``$`` included), since it reaches the program through the environment, not through a shell."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _ENV_KEY.fullmatch(key):
            raise BadInput(f"--env {item!r}: allowed: KEY=VALUE, KEY a letter or _ then letters, digits or _")
        env[key] = value
    return env


@dataclass(frozen=True)
class ArraySpec:
    """A Slurm ``--array`` value and the task indices it names (an array job is done when each has ended)."""

    text: str
    indices: tuple[int, ...]


def parse_array(text: str) -> ArraySpec:
    """Slurm's array syntax: comma-separated ``N``, ``N-M`` or ``N-M:STEP``, then optionally ``%LIMIT``."""
    allowed = "allowed: Slurm's array syntax, e.g. 0-15, 1,3,5, 0-15:4 or 0-15%2"
    ranges, _, limit = text.partition("%")
    if "%" in text and not (limit.isdigit() and int(limit) >= 1):
        raise BadInput(f"--array {text!r}: the limit after % must be a whole number of at least 1; {allowed}")
    indices: set[int] = set()
    for part in ranges.split(","):
        match = _ARRAY_PART.fullmatch(part)
        if match is None:
            raise BadInput(f"--array {text!r}: {part!r} is not N, N-M or N-M:STEP; {allowed}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        step = int(match.group(3)) if match.group(3) is not None else 1
        if last < first or step < 1:
            raise BadInput(f"--array {text!r}: {part!r} must count up (N-M with M >= N, STEP >= 1); {allowed}")
        if last >= MAX_ARRAY_SIZE:
            raise BadInput(f"--array {text!r}: task index {last} is above Slurm's MaxArraySize; allowed: indices "
                           f"0 to {MAX_ARRAY_SIZE - 1}")
        indices.update(range(first, last + 1, step))
    return ArraySpec(text, tuple(sorted(indices)))


def check_time(text: str) -> str:
    """A Slurm ``--time`` value, unchanged."""
    if not _TIME.fullmatch(text):
        raise BadInput(f"--time {text!r}: allowed: Slurm's formats MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, "
                       "DAYS-HOURS, DAYS-HOURS:MINUTES, DAYS-HOURS:MINUTES:SECONDS or UNLIMITED")
    return text


def check_partition(text: str) -> str:
    """A partition name (or a comma-separated list of them, as sbatch takes), unchanged."""
    if not _PARTITION.fullmatch(text):
        raise BadInput(f"--partition {text!r}: allowed: a partition name (letters, digits, _ . -), or several "
                       "separated by commas; `sinfo` on the head lists them")
    return text
