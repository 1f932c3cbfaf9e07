"""A local cluster shared by the tests of one module; always destroyed, even when a test fails."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spec.outputs import Outputs
from tests.contract import assert_contract
from tests.local.harness import invoke, run_name, write_spec
from tests.root import need_root

need_root("the local-cluster tests")


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="chpc-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outputs]:
    """1 head + 2 compute nodes, brought up through `invoke up --spec FILE`."""
    name = run_name("citest")
    spec = write_spec(tmp_path_factory.mktemp("spec") / "cluster.yaml", name)
    result = invoke(state_dir, "up", "--spec", str(spec))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield assert_contract(Outputs.load(state_dir / name / "outputs.json"))
    finally:
        invoke(state_dir, "destroy", "--name", name)
