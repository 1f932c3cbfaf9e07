"""The `invoke` a user runs: `make setup` writes `.venv/bin/invoke` to run this file. It is invoke's own program
over ``invoke_tasks.py``, except that invoke's parse errors (an unknown flag, a flag given without its value) end
with exit code 2, as every other bad flag does, rather than invoke's 1."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from invoke import Collection, Program
from invoke.exceptions import Exit, ParseError

ROOT = Path(__file__).resolve().parents[1]


class ToolkitProgram(Program):
    """Invoke's program, its parse errors turned into invoke's ``Exit`` with code 2 (printed as the same line)."""

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(str(exc), code=2) from None


def main() -> None:
    """Run the task surface with ``argv``; the project's root is put first on the import path, as invoke's
    ``--search-root`` does (this file is run by its path, which puts ``cli/`` there instead)."""
    sys.path[0] = str(ROOT)
    tasks = importlib.import_module("invoke_tasks")
    ToolkitProgram(name="cloud-hpc-toolkit", binary="invoke", namespace=Collection.from_module(tasks)).run()


if __name__ == "__main__":
    main()
