"""A flag that holds several words (``--args``, ``--command``): split as a POSIX shell splits them, or refused in one
line of bounded length, the same way in every task."""

from __future__ import annotations

import shlex

from remote.errors import BadInput


def split_words(flag: str, text: str) -> list[str]:
    """The words of ``text`` as ``sh`` would pass them; an unbalanced quote or a trailing backslash is BadInput
    (exit 2) naming the flag and the start of the value."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        from spec.errors import brief_repr  # pydantic's import, paid only by a refused value

        raise BadInput(f"{flag} {brief_repr(text)}: {exc}; quote the words as a shell would") from None
