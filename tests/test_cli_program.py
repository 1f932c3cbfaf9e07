"""The `invoke` a user runs (`.venv/bin/invoke` runs `cli/program.py`): invoke's own parse errors, an unknown flag
or a flag without its value, are one line and exit 2, as every other bad flag; the tasks run as they do under
invoke."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def toolkit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``cli/program.py`` run by its path, from another folder, as the wrapper `make setup` writes runs it."""
    environ = {**os.environ, "CHPC_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "300"}
    return subprocess.run([sys.executable, str(ROOT / "cli" / "program.py"), *args], capture_output=True, text=True,
                          timeout=120, env=environ, cwd=tmp_path)


@pytest.mark.parametrize(("argv", "line"), [
    (["up", "--bogus"], "No idea what '--bogus' is!"),
    (["run-mpi", "-n", "lab", "--args"], "Flag <Argument: args (a)> needed value and was not given one!"),
    (["status", "-q"], "No idea what '-q' is!"),
])
def test_invokes_own_parse_errors_are_one_line_and_exit_2(tmp_path: Path, argv: list[str], line: str) -> None:
    result = toolkit(tmp_path, *argv)
    assert (result.returncode, result.stdout, result.stderr.splitlines()) == (2, "", [line])


def test_the_tasks_run_as_under_invoke(tmp_path: Path) -> None:
    result = toolkit(tmp_path, "status", "-n", "lab")
    assert result.returncode == 1 and result.stderr == ""
    assert result.stdout.startswith("error: no environment named 'lab' is known here; environments here: none;")
    listed = toolkit(tmp_path, "--list")
    assert listed.returncode == 0
    assert {"up", "run-mpi", "mount", "destroy"} <= {line.split()[0] for line in listed.stdout.splitlines()[2:]
                                                     if line.strip()}
