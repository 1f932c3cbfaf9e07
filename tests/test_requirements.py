"""The fresh-clone road: Pulumi's pip toolchain installs ``requirements.txt`` into a new ``.venv``, so that file
must be pyproject.toml's runtime dependencies, kept so by make, and enough to run the program."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.program_run import ROOT, engine_view, run_program, shipped_config, summary
from tools.requirements_txt import render

PYPROJECT = """[project]
name = "x"
dependencies = ["pulumi==3.272.0", "rich==15.0.0"]  # a comment

[project.optional-dependencies]
test = ["pytest==9.2.0"]
"""


def test_requirements_txt_is_written_from_pyproject() -> None:
    assert (ROOT / "requirements.txt").read_text(encoding="utf-8") == render(ROOT / "pyproject.toml")


def test_only_the_runtime_dependencies_go_in_pinned_as_given(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    lines = [line for line in render(tmp_path / "pyproject.toml").splitlines() if not line.startswith("#")]
    assert lines == ["pulumi==3.272.0", "rich==15.0.0"]


def test_make_setup_rewrites_it_when_pyproject_changes(tmp_path: Path) -> None:
    for name in ("Makefile", "tools/requirements_txt.py", "requirements.txt", "pyproject.toml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    # in step, as make setup leaves it (a checkout writes the files in no particular order of time)
    newest = max((tmp_path / name).stat().st_mtime_ns for name in ("Makefile", "tools/requirements_txt.py",
                                                                     "pyproject.toml"))
    os.utime(tmp_path / "requirements.txt", ns=(newest, newest))
    assert "tools/requirements_txt.py" not in make(tmp_path, "-n", "setup")  # in step: nothing to do
    time.sleep(0.01)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    assert "tools/requirements_txt.py" in make(tmp_path, "-n", "setup")  # setup depends on it
    make(tmp_path, "requirements.txt")
    assert (tmp_path / "requirements.txt").read_text().endswith("\npulumi==3.272.0\nrich==15.0.0\n")


def make(directory: Path, *args: str) -> str:
    result = subprocess.run(["make", "-C", str(directory), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def program_runs() -> list[dict[str, Any]]:
    """The AWS and the Azure program's config as the CLI passes it; one holds a secret, so that the code that
    keeps it secret runs too."""
    runs = []
    for stack, region, extra in (("hpc-dev", "us-east-1", {"cloud-hpc-toolkit:tags": {"owner": {"secure": "v1:o"}}}),
                                 ("azure-hpc-dev", "westeurope", {})):
        values, secret_keys = engine_view(shipped_config(stack) | extra, {"v1:o": "owner-kept-secret"})
        runs.append({"stack": stack, "region": region, "config": values, "secret_keys": secret_keys})
    return runs


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding only requirements.txt and what it pulls in (pip's cache makes this quick after
    ``make setup``); no pip of its own, so nothing else is in it."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-input",
                          "--no-compile", "--disable-pip-version-check", "-r", str(ROOT / "requirements.txt")],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-4000:]
    return python


def test_requirements_txt_alone_runs_the_program(fresh_python: Path, user_home: Path) -> None:
    """Any import the program needs from a package missing from requirements.txt fails here; the fresh venv
    declares exactly what the full one does."""
    runs = program_runs()
    fresh = subprocess.run([str(fresh_python), "-s", "-m", "tests.program_run"], input=json.dumps(runs),
                           capture_output=True, text=True, timeout=600, cwd=ROOT,
                           env={"PATH": os.environ["PATH"], "HOME": str(user_home)})
    assert fresh.returncode == 0, fresh.stderr[-4000:]
    here = [summary(run_program(run["stack"], run["config"], run["secret_keys"], run["region"])) for run in runs]
    assert [json.loads(line) for line in fresh.stdout.splitlines()] == here
    assert here[0]["types"]["aws:ec2/launchTemplate:LaunchTemplate"] == 1 and "fleet" in here[0]["exports"]
    assert here[1]["types"]["azure-native:compute:VirtualMachineScaleSet"] == 1
