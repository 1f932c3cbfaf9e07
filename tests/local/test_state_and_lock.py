"""State this version cannot read, and two tasks on one environment at once, on a real local cluster: `status` says
so in one line, `destroy` still takes everything down, a second `up` is refused without touching the first's nodes,
and a killed holder leaves no lock behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.local.harness import (
    invoke,
    invoke_command,
    journal_inits,
    leftovers,
    pid_namespaces,
    run_name,
    taken_down_if_failing,
    write_spec,
)

pytestmark = pytest.mark.local_cluster

DAMAGES = {
    "outputs-cut": ("outputs.json", lambda text: text[: len(text) // 2], "is damaged (not JSON: "),
    "outputs-newer": ("outputs.json", lambda text: json.dumps({**json.loads(text), "format": 2}),
                      "was written by another version of cloud-hpc-toolkit (in state format '2'; this one reads "
                      "format 1)"),
    "journal-cut": ("journal.json", lambda text: text[: len(text) // 2], "is damaged (not JSON: "),
    "journal-newer": ("journal.json", lambda text: json.dumps({**json.loads(text), "format": 2, "gpus": {}}),
                      "was written by another version of cloud-hpc-toolkit (in state format '2'; this one reads "
                      "format 1)"),
}


def status_lines(state_dir: Path, name: str) -> tuple[int, list[str]]:
    result = invoke(state_dir, "status", "--name", name)
    assert "Traceback" not in result.stdout + result.stderr
    return result.returncode, result.stdout.strip().splitlines()


def nodes_up(status: list[str], computes: int) -> bool:
    text = "\n".join(status)
    return bool(re.search(r"head\s+│.*│\s+ok\s+│\s+controller", text)) and len(
        re.findall(r"compute-\d\s+│.*│\s+ok\s+│\s+idle", text)) == computes


@pytest.mark.parametrize("case", DAMAGES)
def test_state_this_version_cannot_read_is_one_line_and_destroy_takes_all_down(state_dir: Path, tmp_path: Path,
                                                                                case: str) -> None:
    name = run_name(f"st{list(DAMAGES).index(case)}")
    with taken_down_if_failing(state_dir, name):
        retain = case == "journal-newer"  # the spec it was built from says which volume files destroy keeps
        spec = write_spec(tmp_path / "spec.json", name, compute=1, retain=retain)
        up = invoke(state_dir, "up", "--spec", str(spec))
        assert up.returncode == 0, up.stdout + up.stderr
        namespaces = pid_namespaces(state_dir, name)
        assert json.loads((state_dir / name / "spec.json").read_text())["format"] == 1
        file, change, said = DAMAGES[case]
        path = state_dir / name / file
        path.write_text(change(path.read_text()))

        code, lines = status_lines(state_dir, name)
        assert code == 1 and len(lines) == 1, lines
        assert lines[0].startswith(f"error: {path} {said}"), lines
        assert lines[0].endswith(f"`invoke destroy --name {name}` takes the environment down")
        # nor is it taken for a cluster that is up
        again = invoke(state_dir, "up", "--spec", str(spec))
        assert again.returncode == 1 and again.stdout.strip().splitlines() == lines

        gone = invoke(state_dir, "destroy", "--name", name)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert f"destroyed {name}" in gone.stdout and "Traceback" not in gone.stdout + gone.stderr
        assert leftovers(state_dir, name, namespaces) == []
        if retain:
            assert ("keeping volume files (retained, or not named by its spec): compute-0-scratch.img, "
                    "head-scratch.img") in gone.stdout
            assert sorted(p.name for p in (state_dir / name / "volumes").iterdir()) == ["compute-0-scratch.img",
                                                                                       "head-scratch.img"]
            shutil.rmtree(state_dir / name)
        else:
            assert not (state_dir / name).exists()
        unknown = invoke(state_dir, "status", "--name", name)
        assert unknown.returncode == 1 and f"no environment named {name!r} is known here" in unknown.stdout


def test_one_up_at_a_time_and_a_killed_holder_leaves_no_lock(state_dir: Path, tmp_path: Path) -> None:
    name = run_name("lock")
    spec = str(write_spec(tmp_path / "spec.json", name, compute=1))
    lock = state_dir / name / "lock"
    argv, environ = invoke_command(state_dir, "up", "--spec", spec)

    with taken_down_if_failing(state_dir, name):
        # an up killed with SIGKILL while it builds: the kernel releases its lock
        killed = subprocess.Popen(argv, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not journal_inits(state_dir / name / "journal.json"):
            time.sleep(0.1)
        assert lock.read_text() == f"{killed.pid} up\n"
        killed_inits = {pid: _started(pid) for pid in journal_inits(state_dir / name / "journal.json").values()}
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()

        # the next up proceeds (taking down what the killed one left); while it runs, a second up and a destroy are
        # refused at once, naming it
        first = subprocess.Popen(argv, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _holds(lock, first.pid):
                time.sleep(0.1)
            busy = (f"error: environment {name!r} is busy: `invoke up` (pid {first.pid}) holds {lock}; wait for it to "
                    "end, then try again")
            for task in (["up", "--spec", spec], ["destroy", "--name", name]):
                began = time.monotonic()
                second = invoke(state_dir, *task)
                assert second.returncode == 1 and second.stdout.strip().splitlines() == [busy], second.stdout
                assert time.monotonic() - began < 30 and first.poll() is None  # refused while the first still runs
            output, _ = first.communicate(timeout=600)
            assert first.returncode == 0, output
            assert f"an earlier `up` of {name!r} did not finish: taking down what it left" in output
            # the killed up's nodes are gone (what the names derive is the new cluster's now; so may be the numbers
            # of its namespaces, which the kernel hands out again: its inits are told by their start time) ...
            assert all(_started(pid) != started for pid, started in killed_inits.items())
            code, lines = status_lines(state_dir, name)
            assert code == 0 and nodes_up(lines, 1), lines  # ... and the up that held the lock is intact and working
            namespaces = pid_namespaces(state_dir, name)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
            gone = invoke(state_dir, "destroy", "--name", name)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert leftovers(state_dir, name, namespaces) == [] and not (state_dir / name).exists()


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None when there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _holds(lock: Path, pid: int) -> bool:
    try:
        return lock.read_text() == f"{pid} up\n"
    except OSError:
        return False
