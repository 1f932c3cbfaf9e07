"""`up`, `mount` and `run-mpi` as CI runs them, their output going to a log (not a terminal), on a real local
cluster: each change of state is one line stamped with the time (UTC), never a line per poll; names and a job's
output holding markup or emoji codes come out as they are; a program whose path holds spaces and brackets runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.local.harness import ROOT, invoke, run_name, write_spec

pytestmark = pytest.mark.local_cluster

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
PROGRAM = """\
import sys
from mpi4py import MPI
comm = MPI.COMM_WORLD
if comm.Get_rank() == 0:  # one rank: Open MPI forwards ranks' writes as they come, so lines of several may merge
    print(f"[/b] rank 0 [bold]of[/bold] {comm.Get_size()} :smile:", flush=True)
    print("[/x] to stderr [red]", file=sys.stderr, flush=True)
"""


def stamped(output: str) -> list[str]:
    """The stamped lines of ``output``, without their stamps."""
    return [line[len("2026-01-01T00:00:00Z "):] for line in output.splitlines() if STAMP.match(line)]


def test_up_mount_and_run_mpi_write_a_stamped_line_per_change_in_a_log(state_dir: Path, tmp_path: Path) -> None:
    name = run_name("logged")
    spec = write_spec(tmp_path / "logged.yaml", name)
    folder = tmp_path / "my ["
    folder.mkdir()
    program = folder / "x] ring :smile:.py"  # the path reads "my [/x] ring :smile:.py"
    program.write_text(PROGRAM)
    up = invoke(state_dir, "up", "-f", str(spec))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        states = stamped(up.stdout)
        assert states[0] == "booting the nodes (munge, slurm, mpi, storage)", up.stdout
        assert "waiting for Slurm compute nodes to register" in states
        assert all(line.startswith("booting") or line.startswith("waiting") for line in states), states
        assert len(states) == len(set(states)) and len(up.stdout.splitlines()) < 60, up.stdout

        mount = invoke(state_dir, "mount", "-n", name)
        assert mount.returncode == 0, mount.stdout + mount.stderr
        changes = sorted(re.sub(r" in \d+\.\d s$", "", line) for line in stamped(mount.stdout))
        assert changes == sorted(f"mount {node}: {state}" for node in ("head", "compute-0", "compute-1")
                                 for state in ("running", "done")), mount.stdout
        assert "compute-0 /shared: " in mount.stdout and "already mounted" in mount.stdout

        run = invoke(state_dir, "run-mpi", "-n", name, "-p", str(program), "-r", "4")
        assert run.returncode == 0, run.stdout + run.stderr
        lines = run.stdout.splitlines()
        assert [line for line in lines if line.startswith("[/b] rank")] == ["[/b] rank 0 [bold]of[/bold] 4 :smile:"]
        assert run.stderr.splitlines() == ["[/x] to stderr [red]"]
        assert any(line.startswith("submitted job ") and ": x] ring :smile:.py on 2 node(s), 4 task(s)" in line
                   for line in lines), run.stdout
        job_states = stamped(run.stdout)
        assert job_states and all(re.match(r"job \d+: ", line) for line in job_states), run.stdout
        assert len(job_states) < 15 and len(job_states) == len(set(job_states)), run.stdout
        assert re.search(r"^job \d+ COMPLETED exit code 0 in \d+\.\d s$", run.stdout, re.M), run.stdout

        ring = tmp_path / "My Ring.c"  # compiled on the head under its own name, spaces and all
        ring.write_text((ROOT / "examples" / "mpi" / "ring.c").read_text())
        compiled = invoke(state_dir, "run-mpi", "-n", name, "-p", str(ring))
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
        assert "submitted job" in compiled.stdout and ": My Ring.c on 2 node(s), 4 task(s)" in compiled.stdout
        assert re.search(r"^Process 0 on compute-0 received token", compiled.stdout, re.M), compiled.stdout

        script = folder / "x] hello job.sbatch"  # the path reads "my [/x] hello job.sbatch"
        script.write_text('#!/bin/sh\n#SBATCH --ntasks=1\necho "[/x] hello from $1 :smile:"\n')
        batch = invoke(state_dir, "run-mpi", "-n", name, "-b", str(script), "-a", "'a b [bold]'")
        assert batch.returncode == 0, batch.stdout + batch.stderr
        assert "[/x] hello from a b [bold] :smile:" in batch.stdout.splitlines(), batch.stdout
        assert ": x] hello job.sbatch (sbatch)" in batch.stdout
    finally:
        gone = invoke(state_dir, "destroy", "-n", name)
    assert gone.returncode == 0, gone.stdout + gone.stderr
