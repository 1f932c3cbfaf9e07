"""Progress that shows wherever the output goes: a live status line on a terminal, and in a log (CI, a pipe) each
new state on a line of its own, so a long wait is never silent there.

It lives in ``remote/`` (it needs nothing of SSH) because both ``remote/`` (a job being followed) and ``targets/``
(nodes booting, cloud jobs) show progress, and imports flow from ``targets/`` to ``remote/``, never back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console


class Update(Protocol):
    def __call__(self, text: str, key: str | None = None) -> None:
        """Show ``text``; in a log, only when ``key`` (default: the text) differs from the last one shown, so a
        clock in the text ("RUNNING, 41 s") does not print a line per poll."""


@contextmanager
def progress(console: Console, first: str) -> Iterator[Update]:
    if console.is_terminal:
        with console.status(first) as status:
            yield lambda text, key=None: status.update(text)
        return
    last = [first]
    console.print(first, markup=False, highlight=False)

    def update(text: str, key: str | None = None) -> None:
        if (key or text) != last[0]:
            last[0] = key or text
            console.print(text, markup=False, highlight=False)

    yield update
