"""Progress that shows wherever the output goes: a live status line on a terminal, and in a log (CI, a pipe) each
new state on a line of its own, stamped with the time (UTC), so a long wait is never silent there and a log says
when each state began.

It lives in ``remote/`` (it needs nothing of SSH) because both ``remote/`` (a job being followed, a step on many
nodes) and ``targets/`` (nodes booting, cloud jobs) show progress, and imports flow from ``targets/`` to
``remote/``, never back. Text is shown as it is, never read as markup: it holds node, job and file names."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.text import Text


class Update(Protocol):
    def __call__(self, text: str, key: str | None = None) -> None:
        """Show ``text``; in a log, only when ``key`` (default: the text) differs from the last one shown, so a
        clock in the text ("RUNNING, 41 s") does not print a line per poll."""


def stamped(console: Console, text: str) -> None:
    """One line of a log: the time (UTC, to the second) and ``text``, as it is."""
    console.print(Text(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}"), soft_wrap=True)


@contextmanager
def progress(console: Console, first: str) -> Iterator[Update]:
    if console.is_terminal:
        with console.status(Text(first)) as status:
            yield lambda text, key=None: status.update(Text(text))
        return
    last = [first]
    stamped(console, first)

    def update(text: str, key: str | None = None) -> None:
        if (key or text) != last[0]:
            last[0] = key or text
            stamped(console, text)

    yield update
