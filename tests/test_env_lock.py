"""One `up` or `destroy` per environment at a time: a second is refused at once, naming the holder; a holder killed
with SIGKILL leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from targets import env_lock, state
from targets.errors import TargetError

Start = Callable[..., "subprocess.Popen[str]"]
ROOT = Path(__file__).resolve().parents[1]
HOLD = ("import sys, time\nfrom targets import env_lock\nwith env_lock.held(sys.argv[1], sys.argv[2]):\n"
        "    print('held', flush=True)\n    time.sleep(600)\n")


@pytest.fixture
def holder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Start]:
    """Start a process holding environment "lab"'s lock for `up`; killed at the end."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "state"))
    started: list[subprocess.Popen[str]] = []

    def start(task: str = "up") -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, "lab", task], cwd=ROOT, stdout=subprocess.PIPE,
                                text=True, env={**os.environ})
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("task", ["up", "destroy"])
def test_a_second_holder_is_refused_at_once_naming_the_first(holder: Start, task: str) -> None:
    first = holder(task)
    began = time.monotonic()
    with pytest.raises(TargetError) as caught, env_lock.held("lab", "destroy"):
        pass
    assert time.monotonic() - began < 1  # refused, not queued
    path = state.env_dir("lab") / "lock"
    assert str(caught.value) == (f"environment 'lab' is busy: `invoke {task}` (pid {first.pid}) holds {path}; "
                                 "wait for it to end, then try again")
    assert path.read_text() == f"{first.pid} {task}\n"  # the refused one wrote nothing
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_lock_goes_with_a_holder_killed_by_sigkill(holder: Start) -> None:
    first = holder()
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    with env_lock.held("lab", "up"):
        assert (state.env_dir("lab") / "lock").read_text() == f"{os.getpid()} up\n"
    second = holder("destroy")  # released again when the block ends
    assert second.poll() is None


def test_other_environments_are_not_held(holder: Start) -> None:
    holder()
    with env_lock.held("other", "up"):
        assert (state.env_dir("other") / "lock").read_text() == f"{os.getpid()} up\n"
