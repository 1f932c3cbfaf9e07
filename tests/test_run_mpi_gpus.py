"""`invoke run-mpi --gpus-per-node N`: checked against the GPUs the job's partition has in the outputs contract
(one line and exit code 2 when it has fewer, before anything is uploaded), and handed to sbatch as
``--gpus-per-node``; a contract written before partitions carried their GPUs reads as none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remote.batch_script import batch_script
from spec.outputs import Outputs, SharedFs, SlurmPartition
from targets import state
from tests.local.harness import invoke
from tests.test_state_files import lab  # noqa: F401  (a fixture)


@pytest.fixture
def gpu_lab(lab: Path) -> Path:  # noqa: F811  (the fixture imported above)
    """Environment "lab" (as tests/test_state_files.py saves it) with a shared folder, a partition of no GPU (the
    default) and one of four per node; its state folder."""
    path = state.outputs_path("lab")
    saved = json.loads(path.read_text())
    saved.pop("format")
    Outputs.model_validate(saved).model_copy(update={
        "shared": SharedFs(kind="bind", source="/srv/shared", mount="/shared"),
        "partitions": [SlurmPartition(name="cpu", instance_type="local", min=1, max=1, nodes=["cpu-0"]),
                       SlurmPartition(name="gpu", instance_type="g4dn.12xlarge", min=1, max=1, nodes=["gpu-0"],
                                      gpus=4)]}).save(path)
    return lab.parent


@pytest.mark.parametrize(("args", "line"), [
    (("--partition", "gpu", "--gpus-per-node", "8"),
     "--gpus-per-node 8: partition gpu has 4 GPU(s) per node (g4dn.12xlarge); choose at most 4"),
    (("--gpus-per-node", "1"),
     "--gpus-per-node 1: partition cpu has no GPU (local); choose a GPU partition with --partition"),
    (("--partition", "gpu", "--gpus-per-node", "0"), "--gpus-per-node '0': allowed: a whole number of at least 1"),
])
def test_more_gpus_than_the_partition_has_is_one_line_and_exit_2(gpu_lab: Path, args: tuple[str, ...],
                                                                  line: str) -> None:
    result = invoke(gpu_lab, "run-mpi", "--name", "lab", *args)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (2, "", line)


def test_the_flag_reaches_sbatch_as_gpus_per_node() -> None:
    common = {"job_name": "ring", "job_dir": "/shared/j", "command": ["./ring"], "nodes": 2, "ntasks": 2,
              "partition": "gpu", "time": "10"}
    assert "#SBATCH --gpus-per-node=2" in batch_script(**common, gpus_per_node=2).splitlines()  # type: ignore[arg-type]
    assert "gpus-per-node" not in batch_script(**common)  # type: ignore[arg-type]


def test_a_contract_without_gpus_reads_as_none() -> None:
    old = SlurmPartition.model_validate({"name": "compute", "instance_type": "c5n.large", "min": 2, "max": 2})
    assert old.gpus == 0


def test_the_flag_has_its_help() -> None:
    shown = invoke(Path("/nonexistent-state"), "--help", "run-mpi").stdout
    assert "--gpus-per-node" in shown and "sbatch --gpus-per-node" in " ".join(shown.split())
