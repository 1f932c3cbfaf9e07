"""The arguments a Spark script gets from `invoke submit-spark`: one rule for every target (the local standalone
cluster, EMR steps, Livy batches), so a stock script such as Spark's own ``wordcount.py`` runs unchanged anywhere.

- Without ``--input``/``--output`` the script gets exactly ``--args``.
- With them, ``--args`` may place ``{input}`` and ``{output}`` where the script wants them (inside an argument
  too: ``--in={input}``); each becomes the location the target resolved (the uploaded input, the output URI).
- With them and no placeholder, the convention of the toolkit's own examples holds: input and output first, then
  ``--args``.

``{{input}}`` and ``{{output}}`` are the literal text ``{input}`` and ``{output}`` (one pair of braces less, as in
Python's ``str.format``); nothing else in ``--args`` is touched. A placeholder for a location that was not given,
or a given location that the placeholders leave out, is refused before anything is uploaded: the script would run
without what it was meant to get.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_PLACEHOLDER = re.compile(r"\{\{(input|output)\}\}|\{(input|output)\}")  # an escaped one first: {{input}}


class ScriptArgsError(ValueError):
    """``--args`` and the locations given do not fit together (a bad flag: exit code 2)."""


def check_args(args: Sequence[str], *, input_given: bool, output_given: bool) -> None:
    """Refuse, in one line, placeholders that cannot be filled and given locations no placeholder places."""
    placed = _placed(args)
    given = {"input": input_given, "output": output_given}
    for name in ("input", "output"):
        if name in placed and not given[name]:
            raise ScriptArgsError(f"submit-spark: --args places {{{name}}} but no --{name} was given; give "
                                  f"--{name}, or write {{{{{name}}}}} for the literal text {{{name}}}")
        if placed and given[name] and name not in placed:
            raise ScriptArgsError(f"submit-spark: --{name} is given but --args places only "
                                  f"{', '.join(f'{{{n}}}' for n in sorted(placed))}; add {{{name}}} where the script "
                                  f"takes it, or drop --{name}")


def script_args(args: Sequence[str], *, input: str | None, output: str | None, job_input: str,
                job_output: str) -> list[str]:
    """The script's arguments. ``input``/``output``: the locations the target resolved for ``--input``/``--output``
    (None when not given); ``job_input``/``job_output``: the job folder's own, which the convention passes in place
    of a location not given."""
    check_args(args, input_given=input is not None, output_given=output is not None)
    locations = {"input": input or job_input, "output": output or job_output}

    def fill(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        return f"{{{escaped}}}" if escaped else locations[name]

    filled = [_PLACEHOLDER.sub(fill, arg) for arg in args]
    if _placed(args) or (input is None and output is None):
        return filled
    return [locations["input"], locations["output"], *filled]


def _placed(args: Sequence[str]) -> set[str]:
    return {match.group(2) for arg in args for match in _PLACEHOLDER.finditer(arg) if match.group(2)}
