"""Finding (and refusing) environments from the command line: unknown, empty, climbing or slashed names get one
line and an exit code, and nothing outside the state folder is ever touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from targets.errors import UsageError
from targets.registry import backend_for
from tests.pulumi_cli.fixture import FakePulumi

ROOT = Path(__file__).resolve().parents[1]
STACK_FILES = "azure-containers-dev, azure-hpc-dev, azure-spark-dev, containers-dev, hpc-dev, local-dev, spark-dev"


def invoke(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "CHPC_STATE_DIR": str(state_dir), "COLUMNS": "300", **(env or {})}
    argv = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=environ, cwd=ROOT)


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A state folder holding one other environment, with files beside it that must survive every call."""
    state = tmp_path / "state"
    (state / "other").mkdir(parents=True)
    (state / "other" / "journal.json").write_text('{"format": 1, "name": "other"}')
    (tmp_path / "beside.txt").write_text("keep me")
    return state


def everything(tmp_path: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}


def test_an_unknown_name_is_one_line_naming_what_is_known(world: Path, tmp_path: Path) -> None:
    before = everything(tmp_path)
    result = invoke(world, "destroy", "--name", "nosuch")
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        f"error: no environment named 'nosuch' is known here; environments here: other; stacks of this project: "
        f"{STACK_FILES}"]
    assert "destroyed" not in result.stdout and everything(tmp_path) == before


@pytest.mark.parametrize("name", ["", "..", "a/b", "../state/other", "Other"])
@pytest.mark.parametrize("task", ["destroy", "mount", "run-mpi", "status", "ssh", "submit-spark", "run-task"])
def test_a_name_that_cannot_be_an_environment_is_exit_2(world: Path, tmp_path: Path, task: str, name: str) -> None:
    before = everything(tmp_path)
    result = invoke(world, task, "--name", name)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == [
        f"error: environment name {name!r}: allowed: a lowercase letter, then up to 19 lowercase letters, digits "
        "or '-'"]
    assert everything(tmp_path) == before and (world / "other").is_dir()


def test_without_a_name_the_only_environment_is_taken_and_two_are_a_choice(world: Path) -> None:
    (world / "second").mkdir()
    (world / "second" / "journal.json").write_text('{"format": 1, "name": "second"}')
    result = invoke(world, "status")
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        "error: 2 environments are known here: choose one with --name or --stack; environments here: other, second; "
        f"stacks of this project: {STACK_FILES}"]


def test_a_damaged_contract_is_one_line_that_says_how_to_go_on(world: Path) -> None:
    (world / "other" / "outputs.json").write_text('{"format": 1, "target": "local", "name": "oth')  # a full disk
    result = invoke(world, "status", "--name", "other")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == [
        f"error: {world}/other/outputs.json is damaged (not JSON: Unterminated string starting at: line 1 column 42 "
        "(char 41)); `invoke destroy --name other` takes the environment down"]


def test_the_stacks_listed_are_the_backends_when_the_pulumi_cli_is_there(tmp_path: Path,
                                                                         fake_pulumi: FakePulumi) -> None:
    fake_pulumi.deploy("team-hpc", {})
    result = invoke(tmp_path / "empty", "run-mpi", env=fake_pulumi.env())
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        "error: no environment is known here: choose one with --name or --stack; environments here: none; "
        "stacks of this project: team-hpc"]


def test_a_stack_name_that_cannot_be_one_is_exit_2(world: Path, tmp_path: Path) -> None:
    before = everything(tmp_path)
    result = invoke(world, "destroy", "--stack", "../../x")
    assert result.returncode == 2 and "stack '../../x': allowed: a Pulumi stack name" in result.stdout
    assert everything(tmp_path) == before


def test_an_unknown_target_is_refused_in_one_line() -> None:
    with pytest.raises(UsageError, match=r"^target 'gcp': allowed: local, aws, azure$"):
        backend_for("gcp")


def test_the_local_road_loads_neither_pulumi_nor_the_cloud_sdks(tmp_path: Path) -> None:
    probe = ("import sys, targets, invoke_tasks; targets.backend_for('local'); "
             "print(sorted(m for m in ('pulumi', 'boto3', 'azure', 'paramiko') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
