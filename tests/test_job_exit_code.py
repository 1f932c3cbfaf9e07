"""run-mpi and job end with the job's exit code (the worst array task's), so a script or CI step running them sees
a failed MPI program as failed; the cluster tests check this end to end, this test without a cluster."""

from __future__ import annotations

import io

import pytest
from invoke.exceptions import Exit

import invoke_tasks
from cli.text_console import text_console
from remote.job_follow import JobResult


def ended(state: str, exit_code: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The task's exit code and last line for a job that ended so."""
    shown = io.StringIO()
    monkeypatch.setattr(invoke_tasks, "console", text_console(file=shown, width=200))
    try:
        invoke_tasks._ended(JobResult(41, state, exit_code, "", "", 2.0))
    except Exit as exit_:
        return exit_.code, shown.getvalue()
    return 0, shown.getvalue()


@pytest.mark.parametrize(("state", "exit_code"), [("FAILED", 3), ("FAILED", 255), ("CANCELLED", 1),
                                                  ("TIMEOUT", 1), ("FAILED", 137)])
def test_a_failed_job_is_the_tasks_exit_code(state: str, exit_code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    code, line = ended(state, exit_code, monkeypatch)
    assert code == exit_code
    assert line == f"job 41 {state} exit code {exit_code} in 2.0 s\n"


def test_a_job_that_succeeded_ends_the_task_with_0(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ended("COMPLETED", 0, monkeypatch) == (0, "job 41 COMPLETED exit code 0 in 2.0 s\n")
