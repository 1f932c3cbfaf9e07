"""The format every state file carries, so that a file from another version of the toolkit is named in one line
instead of being misread, or read half way into a traceback.

A state file is one JSON object whose ``format`` key says how the rest is laid out. A file without it was written
before state files carried one, in format 1's layout, and is read as such (an environment made before an upgrade
stays usable; a field it lacks or one this version does not know is still named); another number is never guessed
at.
"""

from __future__ import annotations

import json
from pathlib import Path

FORMAT = 1
KEY = "format"
LEGACY = 1  # the layout of the files written before they carried a format


class StateFileError(ValueError):
    """A state file this version cannot read: damaged, or written in another format."""


def dumps(data: dict[str, object]) -> str:
    """``data`` as a state file's text, stamped with this version's format."""
    return json.dumps({KEY: FORMAT, **data}, indent=2)


def read(path: Path) -> dict[str, object]:
    """The fields of the state file at ``path`` (without its format), or one line saying why they cannot be read."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{path} is unreadable ({exc})") from None
    except ValueError as exc:
        raise StateFileError(f"{path} is damaged (not JSON: {exc})") from None
    if not isinstance(data, dict):
        raise StateFileError(f"{path} is damaged (not a JSON object)")
    found = data.pop(KEY, LEGACY)
    if found != FORMAT:
        raise StateFileError(f"{path} was written by another version of cloud-hpc-toolkit (in state format "
                             f"{str(found)[:20]!r}; this one reads format {FORMAT})")
    return data


def unknown_fields(path: Path, data: dict[str, object], known: set[str]) -> None:
    """One line naming the first field this version does not know (a newer toolkit's, or a hand edit)."""
    extra = sorted(set(data) - known)
    if extra:
        raise StateFileError(f"{path} has a field this version does not know ({extra[0][:40]!r}): written by "
                             "another version of cloud-hpc-toolkit?")
