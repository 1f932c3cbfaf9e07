"""The CLI's console prints every string as it is: a node name, a file name or a remote error holding ``[/x]`` or
``:smile:`` is never read as rich markup or an emoji code. Colour is given as a style (``Text``, ``style=``), never
inside the text, so nothing the user or a remote node wrote can change what is shown or crash the printing."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def text_console(**options: Any) -> Console:
    """A rich console with markup, emoji codes and highlighting off (``options`` go to ``Console``), whose lines
    are never cut to a width: in a log (80 columns when rich cannot know better) a line stays one line."""
    return Console(markup=False, emoji=False, highlight=False, soft_wrap=True, **options)
