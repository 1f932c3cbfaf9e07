"""Faults on the Slurm side of a real local cluster, each checked by what the user sees and what survives: a killed
slurmd, a restarted slurmctld, a node whose namespace dies, and twenty clients submitting at once."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from remote.pool import Pool
from remote.run import run
from spec.outputs import Outputs
from tests.local import harness
from tests.local.harness import ROOT, host_path, invoke, invoke_command, job_id_of

pytestmark = pytest.mark.local_cluster

# The daemon comes back 5 s after it dies (the slurm role's supervisor; Restart=on-failure RestartSec=5 under
# systemd); this leaves room for a loaded machine.
BACK_WITHIN = 60.0


def waiting_program(path: Path, marker: str, *, rank0_exit: int = 0) -> Path:
    """A job that says it started, then waits for ``marker`` to exist before it ends (rank 0 with
    ``rank0_exit``): the fault is injected while it surely runs."""
    path.write_text(f'#!/bin/sh\necho "rank $OMPI_COMM_WORLD_RANK started on $(hostname)"\n'
                    f"while [ ! -e {marker} ]; do sleep 0.2; done\n"
                    'echo "rank $OMPI_COMM_WORLD_RANK done"\n'
                    f'[ "$OMPI_COMM_WORLD_RANK" = 0 ] && exit {rank0_exit}\nexit 0\n')
    return path


@contextmanager
def run_mpi_while(state_dir: Path, cluster: Outputs, program: Path, marker: str,
                  result: list[subprocess.CompletedProcess[str]]) -> Iterator[None]:
    """Start `run-mpi` of ``program`` on both compute nodes; the body runs once a rank has said it started; then
    the job's marker is touched and `run-mpi` followed to its end into ``result``."""
    argv, env = invoke_command(state_dir, "run-mpi", "--name", cluster.name, "--program", str(program),
                               "--nodes", "2", "--ntasks", "2")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                          env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        before = []
        for line in proc.stdout:
            before.append(line)
            if " started on compute-" in line:
                break
        try:
            yield
        finally:
            host_path(state_dir, cluster, marker).touch()
        rest = proc.stdout.read()
        errors = proc.stderr.read()
    result.append(subprocess.CompletedProcess(argv, proc.wait(), "".join(before) + rest, errors))


def on(pool: Pool, node: str, command: str) -> str:
    return run(pool.client(node), command, node=node, step="fault").stdout.strip()


def wait_for(what: str, check: Callable[[], bool], within: float) -> None:
    """Poll ``check()`` until it is true; fail naming ``what`` after ``within`` seconds."""
    end = time.monotonic() + within
    while not check():
        assert time.monotonic() < end, f"{what} not seen within {within:.0f} s"
        time.sleep(0.5)


def slurm_column(state_dir: Path, name: str, node: str) -> str:
    """What `invoke status` says of ``node`` in its slurm column."""
    result = invoke(state_dir, "status", "--name", name)
    assert result.returncode == 0, result.stdout + result.stderr
    # node, partition, address, ssh, then slurm
    match = re.search(rf"^│ {node}\s+│[^│]+│[^│]+│[^│]+│\s*(.*?)\s+│", result.stdout, re.M)
    assert match, result.stdout
    return match.group(1)


def test_a_killed_slurmd_comes_back_on_its_own_and_the_job_it_ran_completes(cluster: Outputs, state_dir: Path,
                                                                             tmp_path: Path) -> None:
    """slurmd killed (SIGKILL) on a compute node mid-job: the job's processes live on under slurmstepd, the role's
    supervisor starts slurmd again, Slurm keeps the node in service, and the job ends as it would have."""
    marker = f"/shared/slurmd-fault-{time.monotonic_ns()}"
    result: list[subprocess.CompletedProcess[str]] = []
    with Pool(cluster) as pool:
        killed = on(pool, "compute-0", "cat /run/slurmd.pid")

        def slurmd_back() -> bool:
            return on(pool, "compute-0", f'p=$(cat /run/slurmd.pid); [ "$p" != {killed} ] && kill -0 "$p" '
                                         "&& echo back || true") == "back"

        with run_mpi_while(state_dir, cluster, waiting_program(tmp_path / "waits.sh", marker, rank0_exit=5), marker,
                           result):
            on(pool, "compute-0", f"kill -KILL {killed}")
            wait_for("slurmd started again on compute-0", slurmd_back, BACK_WITHIN)
            said = on(pool, "compute-0", "cat /var/log/slurm/supervise.log")
    followed = result[0]
    assert followed.returncode == 5, followed.stdout + followed.stderr
    assert sorted(re.findall(r"^rank \d done$", followed.stdout, re.M)) == ["rank 0 done", "rank 1 done"]
    assert re.search(r"job \d+ FAILED exit code 5 in", followed.stdout), followed.stdout
    assert "/usr/sbin/slurmd ended with status 137; starting it again in 5 s" in said
    wait_for("compute-0 idle in `invoke status`",
             lambda: slurm_column(state_dir, cluster.name, "compute-0") == "idle", BACK_WITHIN)


def test_a_restarted_slurmctld_keeps_the_job_and_run_mpi_follows_it_to_its_exit_code(cluster: Outputs,
                                                                                    state_dir: Path,
                                                                                    tmp_path: Path) -> None:
    """slurmctld stopped and started again while a job runs (as `systemctl restart` does): run-mpi rides over the
    seconds the controller does not answer, and the job comes back from the state save with its output and exit
    code."""
    marker = f"/shared/slurmctld-fault-{time.monotonic_ns()}"
    result: list[subprocess.CompletedProcess[str]] = []
    with Pool(cluster) as pool:
        with run_mpi_while(state_dir, cluster, waiting_program(tmp_path / "waits.sh", marker, rank0_exit=3), marker,
                           result):
            on(pool, "head", "kill -TERM $(cat /run/slurmctld.pid); "
                             "while pgrep -x slurmctld > /dev/null; do sleep 0.2; done")
            down = run(pool.head(), "scontrol ping", node="head", step="ping", check=False)
            time.sleep(5)  # several of run-mpi's polls (one a second) meet no controller
            on(pool, "head", "setsid /var/lib/slurm/supervise.sh /usr/sbin/slurmctld -D "
                             "< /dev/null >> /var/log/slurm/supervise.log 2>&1 &")
            wait_for("slurmctld answering again",
                     lambda: run(pool.head(), "scontrol ping", node="head", step="ping",
                                 check=False).exit_code == 0, BACK_WITHIN)
        followed = result[0]
        job_id = job_id_of(followed)
        kept = on(pool, "head", f"scontrol show job -o {job_id}")
    assert "DOWN" in down.stdout + down.stderr, down
    assert followed.returncode == 3, followed.stdout + followed.stderr
    assert sorted(re.findall(r"^rank \d (?:started on compute-\d|done)$", followed.stdout, re.M)) == [
        "rank 0 done", "rank 0 started on compute-0", "rank 1 done", "rank 1 started on compute-1"]
    assert f"job {job_id} FAILED exit code 3 in" in followed.stdout
    assert "JobState=FAILED" in kept and "ExitCode=3:0" in kept  # the restarted controller knows it ended so


CLIENTS = 20


def test_twenty_clients_at_once_each_get_their_own_job_and_output(cluster: Outputs, state_dir: Path,
                                                                  tmp_path: Path) -> None:
    """Twenty `invoke run-mpi` processes at once, one C program of one name compiled by each: every one exits 0
    with its own token and job id and nothing of another's, and Slurm has exactly twenty jobs of that name."""
    name = f"tok{time.monotonic_ns() % 10**9}"
    program = tmp_path / f"{name}.c"
    program.write_text('#include <stdio.h>\n#include <stdlib.h>\n#include <mpi.h>\n'
                       "int main(int argc, char **argv) {\n  MPI_Init(&argc, &argv);\n"
                       '  printf("token %s job %s\\n", argv[1], getenv("SLURM_JOB_ID"));\n'
                       "  MPI_Finalize();\n  return 0;\n}\n")
    clients = []
    for index in range(CLIENTS):
        argv, env = invoke_command(state_dir, "run-mpi", "--name", cluster.name, "--program", str(program),
                                   "--nodes", "1", "--ntasks", "1", "--args", f"T{index:02d}")
        clients.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                        env=env))
    results = [subprocess.CompletedProcess(p.args, p.wait(timeout=600), *p.communicate()) for p in clients]
    ids = []
    for index, result in enumerate(results):
        assert result.returncode == 0, result.stdout + result.stderr
        job_id = job_id_of(result)
        assert re.findall(r"^token (\S+) job (\d+)$", result.stdout, re.M) == [(f"T{index:02d}", str(job_id))]
        ids.append(job_id)
    assert len(set(ids)) == CLIENTS
    with Pool(cluster) as pool:
        known = on(pool, "head", f"squeue -h --states=all --name {name} -o %i").split()
    assert sorted(map(int, known)) == sorted(ids)


def test_a_node_whose_namespace_dies_is_named_jobs_run_on_the_rest_and_destroy_leaves_nothing(
        state_dir: Path, tmp_path: Path) -> None:
    name = harness.run_name("fault")
    with harness.taken_down_if_failing(state_dir, name):
        up = invoke(state_dir, "up", "--spec", str(harness.write_spec(tmp_path / "spec.json", name)))
        assert up.returncode == 0, up.stdout + up.stderr
        namespaces = harness.pid_namespaces(state_dir, name)
        subprocess.run(["kill", "-KILL", str(harness.journal_inits(state_dir / name / "journal.json")["compute-1"])],
                       check=True)

        status = invoke(state_dir, "status", "--name", name)
        assert status.returncode == 0 and status.stderr == "", status.stdout + status.stderr
        assert re.search(r"^│ compute-1\s+│[^│]+│[^│]+│ unreachable │", status.stdout, re.M), status.stdout
        assert re.search(r"^│ compute-0\s+│[^│]+│[^│]+│ ok\s+│ idle", status.stdout, re.M), status.stdout

        ring = invoke(state_dir, "run-mpi", "--name", name, "--nodes", "1", "--ntasks", "2")
        assert ring.returncode == 0, ring.stdout + ring.stderr
        assert set(re.findall(r"^Process \d on (compute-\d) received", ring.stdout, re.M)) == {"compute-0"}

        wait_for("compute-1 down in `invoke status` with Slurm's reason",
                 lambda: slurm_column(state_dir, name, "compute-1") == "down* (Not responding)", 180)

        gone = invoke(state_dir, "destroy", "--name", name)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert f"destroyed {name}" in gone.stdout
        assert harness.leftovers(state_dir, name, namespaces) == []
