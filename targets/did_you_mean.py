"""The clause an error line gives for a misspelled name: the closest known one, so `hpc-dv` points to `hpc-dev`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """``"did you mean 'X'? "`` for the known name closest to ``given`` (difflib's ratio of 0.6 or more), else
    ``""``; an error line follows it with the list of what is known."""
    close = difflib.get_close_matches(given, sorted(set(known)), n=1)
    return f"did you mean {close[0]!r}? " if close else ""
