"""The options a batch script sets with its own ``#SBATCH`` lines, read as sbatch reads them.

Why: ``run-mpi --sbatch`` submits the script as it is, and adds the toolkit's defaults (job folder, output files,
partition) only where the script says nothing; so the toolkit must know what the script says. sbatch reads
``#SBATCH`` lines from the line after ``#!`` up to the first line that is neither a comment nor blank.
"""

from __future__ import annotations

import shlex

# the options whose presence (or value) the toolkit needs, by their short letters
_SHORT = {"o": "output", "e": "error", "D": "chdir", "p": "partition", "a": "array"}
_TAKES_VALUE = frozenset(_SHORT.values())


def directives(script: str) -> dict[str, str]:
    """The script's ``#SBATCH`` options by long name, the last of each kept (a short one the toolkit needs by its
    long name too: ``-o x`` is ``output``)."""
    found: dict[str, str] = {}
    for line in script.splitlines()[1:]:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        if not line.startswith("#SBATCH"):
            continue
        try:
            tokens = shlex.split(line[len("#SBATCH"):], comments=True)
        except ValueError:
            continue  # an unbalanced quote: sbatch says what it makes of it
        found.update(_options(tokens))
    return found


def _options(tokens: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    rest = iter(tokens)
    for token in rest:
        if token.startswith("--"):
            name, eq, value = token[2:].partition("=")
            if name in _TAKES_VALUE and not eq:
                value = next(rest, "")
            options[name] = value
        elif token.startswith("-") and len(token) > 1 and token[1] in _SHORT:
            options[_SHORT[token[1]]] = token[2:].lstrip("=") or next(rest, "")
    return options
