"""Progress that shows wherever the output goes: a live status line on a terminal, and in a log (CI, a pipe) each
new state on a line of its own, so a long wait is never silent there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


@contextmanager
def progress(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """Yields ``update(text)``; repeated texts are printed once."""
    if console.is_terminal:
        with console.status(first) as status:
            yield status.update
        return
    last = [first]
    console.print(first, markup=False, highlight=False)

    def update(text: str) -> None:
        if text != last[0]:
            last[0] = text
            console.print(text, markup=False, highlight=False)

    yield update
