"""run-mpi takes what users have, on a real local cluster: mpi4py, C++, Fortran, a Makefile or CMake project, a batch
script of their own, an array; output shown while the job runs; a detached job followed from another machine."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from remote.pool import Pool
from remote.run import run
from spec.outputs import Outputs
from tests.local.harness import ROOT, host_path, invoke, invoke_command, job_id_of
from tests.pulumi_cli.fixture import FakePulumi

pytestmark = pytest.mark.local_cluster

PROGRAMS = Path(__file__).resolve().parent / "programs"


def job_folder(state_dir: Path, cluster: Outputs, result: subprocess.CompletedProcess[str]) -> Path:
    match = re.search(r"; folder (/shared/\S+)$", result.stdout, re.M)
    assert match, result.stdout
    return host_path(state_dir, cluster, match.group(1))


def test_an_mpi4py_program_runs_across_two_nodes_its_arguments_and_environment_exact(cluster: Outputs,
                                                                                      state_dir: Path) -> None:
    tricky = ["a b", "$HOME", "it's", 'say "hi"', "*", "back\\slash"]
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / "mpi_hello.py"),
                    "--nodes", "2", "--ntasks", "4", "--args", shlex.join(tricky),
                    "--env", "MSG=x \"y\" $z 'w' `q`", "--env", "EMPTY=")
    assert result.returncode == 0, result.stdout + result.stderr
    ranks = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(rank["rank"] for rank in ranks) == [0, 1, 2, 3]
    assert {rank["host"] for rank in ranks} == {"compute-0", "compute-1"}
    for rank in ranks:
        assert (rank["size"], rank["argv"], rank["msg"], rank["empty"]) == (4, tricky, "x \"y\" $z 'w' `q`", "")
    assert "sum of ranks: 6" in result.stdout


def test_a_cxx_and_a_fortran_file_are_compiled_with_their_wrappers(cluster: Outputs, state_dir: Path) -> None:
    for source, said in (("allreduce.cpp", "c++: 4 ranks, sum 10"), ("allreduce.f90", "fortran: 4 ranks, sum 10")):
        result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / source),
                        "--ntasks", "4")
        assert result.returncode == 0, result.stdout + result.stderr
        assert said in result.stdout.splitlines()


def test_a_makefile_project_is_built_on_the_head_and_its_only_executable_runs(cluster: Outputs,
                                                                             state_dir: Path) -> None:
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", "examples/mpi/stencil",
                    "--nodes", "2", "--ntasks", "4", "--args", "64 100")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stencil: 64 points, 100 steps, 4 ranks: interior sum {_stencil_sum(64, 100):.9f}" in result.stdout
    built = job_folder(state_dir, cluster, result) / "stencil"
    assert sorted(p.name for p in built.glob("*.o")) == ["halo.o", "main.o", "stencil.o"]


def _stencil_sum(points: int, steps: int) -> float:
    """The example's heat stencil, on one process: what every number of ranks must print."""
    u = [1.0] + [0.0] * (points - 1)
    for _ in range(steps):
        u = [u[0], *(0.5 * (u[i - 1] + u[i + 1]) for i in range(1, points - 1)), u[-1]]
    return sum(u[1:-1])


def test_a_cmake_project_builds_out_of_its_folder(cluster: Outputs, state_dir: Path) -> None:
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / "cmake_hello"),
                    "--ntasks", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cmake: 3 ranks" in result.stdout.splitlines()
    assert (job_folder(state_dir, cluster, result) / "build" / "cmake_hello").is_file()


def test_a_failing_build_shows_its_last_lines_and_two_executables_ask_for_binary(cluster: Outputs,
                                                                                 state_dir: Path) -> None:
    broken = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / "broken_make"))
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "error: [head] build broken_make failed: make failed (exit 2); its last lines:" in broken.stdout
    assert "'undeclared_on_purpose' undeclared" in broken.stdout and "submitted job" not in broken.stdout
    two = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / "two_tools"))
    assert two.returncode == 2, two.stdout + two.stderr
    assert ("error: the build of two_tools made 2 executables (checker, solver); name the one to run with --binary"
            in two.stdout)
    chosen = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / "two_tools"),
                    "--binary", "solver", "--ntasks", "1", "--nodes", "1")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr


def test_a_batch_script_keeps_its_own_lines_and_flags_given_win(cluster: Outputs, state_dir: Path) -> None:
    script = ROOT / "examples/slurm/hello_mpi.sbatch"
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--sbatch", str(script), "--args", "'hello world' $x")
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = job_id_of(result)
    said = sorted(line for line in result.stdout.splitlines() if line.startswith("rank "))
    assert said == [f"rank {r} of 4 on compute-{r // 2} says: [hello world] [$x]" for r in range(4)]
    assert f"job {job_id} (hello-mpi): 4 ranks on compute-[0-1]" in result.stdout
    log = job_folder(state_dir, cluster, result) / f"hello-mpi-{job_id}.log"  # its own --output, in its job folder
    assert log.read_text().count("says: [hello world]") == 4
    overridden = invoke(state_dir, "run-mpi", "--name", cluster.name, "--sbatch", str(script), "--nodes", "1",
                        "--ntasks", "2")
    assert overridden.returncode == 0, overridden.stdout + overridden.stderr
    assert f"job {job_id_of(overridden)} (hello-mpi): 2 ranks on compute-0" in overridden.stdout


def test_a_users_batch_script_gets_its_jobs_own_open_mpi_session_folder_on_every_node(
        cluster: Outputs, state_dir: Path, tmp_path: Path) -> None:
    # jobs starting and ending at once on a node raced over Open MPI's shared session folder: Slurm's TaskProlog
    # (the slurm role's) gives every job its own, a user's script as much as run-mpi's
    script = tmp_path / "session.sbatch"
    script.write_text("#!/bin/sh\n#SBATCH --nodes=2\n#SBATCH --ntasks=2\n"
                      'mpirun sh -c \'test -d "$OMPI_MCA_orte_top_session_dir" && '
                      'echo "session $OMPI_MCA_orte_top_session_dir on $(hostname)"\'\n')
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--sbatch", str(script))
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = job_id_of(result)
    said = sorted(line for line in result.stdout.splitlines() if line.startswith("session "))
    assert said == [f"session /tmp/ompi-job-{job_id} on compute-{n}" for n in (0, 1)]
    for node in ("compute-0", "compute-1"):  # and Open MPI removed it at the job's end
        assert not (state_dir / cluster.name / "nodes" / node / "root" / "tmp" / f"ompi-job-{job_id}").exists()


def test_a_batch_script_slurm_refuses_is_slurms_own_words_and_exit_1(cluster: Outputs, state_dir: Path,
                                                                      tmp_path: Path) -> None:
    script = tmp_path / "too_big.sbatch"
    script.write_text("#!/bin/sh\n#SBATCH --nodes=9\nsrun hostname\n")
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--sbatch", str(script), timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("error: [head] sbatch failed: Slurm refused too_big.sbatch: sbatch: error: Batch job submission failed: "
            in result.stdout.splitlines()[0])


def test_an_array_exits_with_its_worst_task_each_tasks_output_under_its_index(cluster: Outputs,
                                                                              state_dir: Path) -> None:
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / "array_task.sh"),
                    "--array", "0-3", "--nodes", "1", "--ntasks", "1")
    assert result.returncode == 5, result.stdout + result.stderr
    out = _sections(result.stdout)
    assert out == {i: [f"task {i} out"] for i in range(4)}
    assert all(f"task {i} err" in _sections(result.stderr)[i] for i in range(4))
    assert re.search(r"array tasks: (2 COMPLETED, 2 FAILED|2 FAILED, 2 COMPLETED)", result.stdout)


def _sections(text: str) -> dict[int, list[str]]:
    """The lines under each `--- array task N ---` header (a task's lines may come under several), without the
    progress lines (`job N: ...`, stamped with the time in a log) between them."""
    sections: dict[int, list[str]] = {}
    current = None
    for line in text.splitlines():
        header = re.fullmatch(r"--- array task (\d+) ---", line)
        if header:
            current = int(header.group(1))
            sections.setdefault(current, [])
        elif current is not None and not re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ )?job ", line):
            sections[current].append(line)
    return sections


def test_output_shows_while_the_job_runs_and_nothing_twice(cluster: Outputs, state_dir: Path) -> None:
    marker = f"/shared/stream-marker-{time.monotonic_ns()}"
    argv, env = invoke_command(state_dir, "run-mpi", "--name", cluster.name, "--program", str(PROGRAMS / "stream.py"),
                               "--ntasks", "2", "--args", marker)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        before = []
        for line in proc.stdout:  # the job waits for the marker: this line can only come while it runs
            before.append(line)
            if line == "first line\n":
                host_path(state_dir, cluster, marker).touch()
                break
        rest = proc.stdout.read()
        errors = proc.stderr.read()
    assert proc.returncode == 0, "".join(before) + rest + errors
    shown = "".join(before) + rest
    assert shown.count("first line\n") == 1 and shown.count("second line\n") == 1, shown
    assert errors.count("first error line\n") == 1, errors
    assert re.search(r"^\S+Z job \d+: RUNNING on compute-", shown, re.M)  # progress as stamped lines in a log


def test_a_detached_job_is_followed_later_from_a_machine_that_did_not_submit_it(cluster: Outputs, tmp_path: Path,
                                                                               fake_pulumi: FakePulumi) -> None:
    colleague = {**json.loads(cluster.model_dump_json()), "target": "aws", "region": "us-east-1", "name": "team-hpc"}
    fake_pulumi.deploy("team-hpc", colleague, secret=["ssh_private_key"])
    marker = f"/shared/detach-marker-{time.monotonic_ns()}"
    program = tmp_path / "waits.sh"
    program.write_text(f"#!/bin/sh\nwhile [ ! -e {marker} ]; do sleep 0.2; done\n"
                       'echo "rank $OMPI_COMM_WORLD_RANK went on"\n[ "$OMPI_COMM_WORLD_RANK" = 0 ] && exit 4\nexit 0\n')
    submitted = invoke(tmp_path / "laptop", "run-mpi", "--stack", "team-hpc", "--program", str(program), "--ntasks",
                       "2", "--detach", env=fake_pulumi.env())
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job_id = job_id_of(submitted)
    assert f"job {job_id} runs on its own; output: /shared/.chpc/jobs/waits-" in submitted.stdout
    assert f"follow it with `invoke job --id {job_id} --stack team-hpc`" in submitted.stdout
    with Pool(cluster) as pool:
        queued = run(pool.head(), ["squeue", "-h", "-j", str(job_id), "-o", "%T"], node="head", step="squeue")
        assert queued.stdout.strip() in ("PENDING", "RUNNING")  # detach did not wait for the job
        run(pool.head(), ["touch", marker], node="head", step="marker")
    followed = invoke(tmp_path / "desktop", "job", "--id", str(job_id), "--stack", "team-hpc", env=fake_pulumi.env())
    assert followed.returncode == 4, followed.stdout + followed.stderr
    assert sorted(re.findall(r"^rank \d went on$", followed.stdout, re.M)) == ["rank 0 went on", "rank 1 went on"]
    assert f"job {job_id} FAILED exit code 4" in followed.stdout
    # the desktop found the job from its id alone: it keeps only the stack's outputs
    assert sorted(p.name for p in (tmp_path / "desktop" / "team-hpc").iterdir()) == ["deployment.json", "outputs.json"]
