"""The post-deploy road on a real local cluster: status, run-mpi right after up (the nodes mounted their storage at
boot), mount again, ssh, pinning, re-attach."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from remote import slurm
from remote.errors import HostKeyMismatch
from remote.mpi_job import run_mpi
from remote.pool import Pool
from remote.run import run
from spec.outputs import Outputs
from targets.local import keys
from tests.local.harness import invoke
from tests.pulumi_cli.fixture import FakePulumi

pytestmark = pytest.mark.local_cluster


def test_status_shows_every_node_idle(cluster: Outputs, state_dir: Path) -> None:
    result = invoke(state_dir, "status", "--name", cluster.name)
    assert result.returncode == 0, result.stderr
    for compute in cluster.computes:
        assert re.search(rf"{compute.name}\s+│\s+compute\s+│\s+{re.escape(compute.address)}\s+│\s+ok\s+│\s+idle",
                         result.stdout), result.stdout
    assert re.search(r"head\s+│\s+-\s+│.*│\s+ok\s+│\s+controller", result.stdout), result.stdout


def test_ring_prints_every_rank(cluster: Outputs, state_dir: Path) -> None:
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--nodes", "2", "--ntasks", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = re.findall(r"Process (\d) on (compute-\d) received token (-?\d+) from process (\d)", result.stdout)
    assert len(lines) == 4, result.stdout
    by_rank = {int(rank): (host, int(token), int(source)) for rank, host, token, source in lines}
    assert by_rank[0][1:] == (2, 3)
    for rank in (1, 2, 3):
        assert by_rank[rank][1:] == (rank - 2, rank - 1)
    assert {host for host, _, _ in by_rank.values()} == {"compute-0", "compute-1"}


def test_a_job_right_after_up_writes_to_the_shared_folder_and_each_nodes_volume(cluster: Outputs, state_dir: Path,
                                                                                 tmp_path: Path) -> None:
    """`up` then `run-mpi`, nothing between: every node mounted its volume and the shared folder at boot."""
    program = tmp_path / "after_up.sh"
    program.write_text("#!/bin/sh\nset -e\nhost=$(hostname)\n"
                       'echo "$host" > "/shared/after-up-$OMPI_COMM_WORLD_RANK.txt"\n'
                       'echo "$host" > /scratch/after-up.txt\n'
                       'echo "$host /scratch on $(findmnt -rn -o SOURCE --mountpoint /scratch)"\n')
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", str(program), "--nodes", "2",
                    "--ntasks", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    devices = {v.node: v.device for v in cluster.volumes}
    said = dict(re.findall(r"^(compute-\d) /scratch on (\S+)$", result.stdout, re.M))
    assert said == {name: devices[name] for name in ("compute-0", "compute-1")}, result.stdout
    # the bind mount's source, on this machine: unmounted, /shared would be this machine's own folder
    written = sorted((state_dir / cluster.name / "shared").glob("after-up-*.txt"))
    assert sorted(path.read_text() for path in written) == ["compute-0\n", "compute-1\n"]


def test_mount_reports_what_boot_mounted_and_mounts_again_without_formatting(cluster: Outputs,
                                                                            state_dir: Path) -> None:
    first = invoke(state_dir, "mount", "--name", cluster.name)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "formatted" not in first.stdout
    assert first.stdout.count("already mounted") == 6  # the shared folder and the node's volume, on 3 nodes
    assert re.search(r"head /scratch: /dev/loop\d+ \(ext4\) already mounted", first.stdout), first.stdout
    with Pool(cluster) as pool:
        client = pool.client("compute-1")
        run(client, "echo precious > /scratch/data.txt && sync", node="compute-1", step="write")
        run(client, ["umount", "/scratch"], node="compute-1", step="umount")
    second = invoke(state_dir, "mount", "--name", cluster.name)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "formatted" not in second.stdout
    assert re.search(r"compute-1 /scratch: /dev/loop\d+ \(ext4\) mounted", second.stdout)
    assert second.stdout.count("already mounted") == 5  # shared x3 + the two volumes left mounted
    with Pool(cluster) as pool:
        text = run(pool.client("compute-1"), ["cat", "/scratch/data.txt", "/scratch/after-up.txt"],
                   node="compute-1", step="read").stdout
    assert text == "precious\ncompute-1\n"


def test_a_stack_deployed_elsewhere_runs_jobs_from_a_machine_with_no_state(cluster: Outputs, tmp_path: Path,
                                                                           fake_pulumi: FakePulumi) -> None:
    """A colleague's stack: this machine has no state at all, only the stack's name; its outputs (this cluster,
    described as a cloud stack would be) come through the Automation API, and the tasks run for real."""
    colleague = {**json.loads(cluster.model_dump_json()), "target": "aws", "region": "us-east-1", "name": "team-hpc"}
    fake_pulumi.deploy("team-hpc", colleague, secret=["ssh_private_key"])
    laptop = tmp_path / "laptop-state"
    status = invoke(laptop, "status", "--stack", "team-hpc", env=fake_pulumi.env())
    assert status.returncode == 0, status.stdout + status.stderr
    assert "environment team-hpc (aws)" in status.stdout and status.stdout.count(" idle ") == 2
    ring = invoke(laptop, "run-mpi", "--stack", "team-hpc", "--nodes", "2", "--ntasks", "4", env=fake_pulumi.env())
    assert ring.returncode == 0, ring.stdout + ring.stderr
    assert "received token" in ring.stdout and "COMPLETED" in ring.stdout
    fail = invoke(laptop, "run-mpi", "--stack", "team-hpc", "--program", "examples/mpi/fail.c", "--args", "3",
                  env=fake_pulumi.env())
    assert fail.returncode == 3, fail.stdout + fail.stderr
    assert sorted(p.name for p in (laptop / "team-hpc").iterdir()) == ["deployment.json", "outputs.json"]
    assert cluster.ssh_private_key not in status.stdout + ring.stdout  # a secret output is never printed


def test_cloud_up_waits_until_every_node_reports_its_boot(cluster: Outputs, tmp_path: Path,
                                                          fake_pulumi: FakePulumi) -> None:
    """`invoke up --stack` of a cloud stack whose deployment gives this cluster as its outputs: after Pulumi, `up`
    reads the stack's outputs and waits over SSH for the head and each compute node's boot status, as on a cloud."""
    fake_pulumi.program({**json.loads(cluster.model_dump_json()), "target": "aws", "region": "us-east-1",
                         "name": "hpc-dev"})
    home = tmp_path / "home"
    keys.ssh_keypair(home / ".ssh" / "id_ed25519", "user@laptop")  # the stack's spec names ~/.ssh/id_ed25519
    result = invoke(tmp_path / "laptop-state", "up", "--stack", "hpc-dev", "--yes",
                    env={**fake_pulumi.env(), "HOME": str(home)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "booting: head done; 2/2 computes done" in result.stdout
    assert "ready hpc-dev: 3 nodes booted" in result.stdout


def test_failing_job_exit_code_becomes_task_exit_code(cluster: Outputs, state_dir: Path) -> None:
    result = invoke(state_dir, "run-mpi", "--name", cluster.name, "--program", "examples/mpi/fail.c", "--args", "7")
    assert result.returncode == 7, result.stdout + result.stderr
    assert "failing on purpose with exit code 7" in result.stderr
    assert "FAILED" in result.stdout


def test_ssh_reaches_a_compute_node_through_the_head(cluster: Outputs, state_dir: Path) -> None:
    result = invoke(state_dir, "ssh", "--name", cluster.name, "--node", "compute-1", "--command", "hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "compute-1"


def test_changed_host_key_is_refused(cluster: Outputs, tmp_path: Path) -> None:
    other = keys.ssh_keypair(tmp_path / "other", "impostor")
    forged = cluster.model_copy(update={"head": cluster.head.model_copy(update={"host_key": other})})
    with Pool(forged, deadline=5) as pool, pytest.raises(HostKeyMismatch) as caught:
        pool.head()
    assert "head" in str(caught.value) and cluster.head.address in str(caught.value)


def test_dropped_connection_reattaches_without_resubmitting(cluster: Outputs, tmp_path: Path) -> None:
    program = tmp_path / "slow_ring_check.sh"
    program.write_text("#!/bin/sh\necho \"rank $OMPI_COMM_WORLD_RANK started\"\nsleep 4\n"
                       "echo \"rank $OMPI_COMM_WORLD_RANK done\"\n")
    results = []
    shown: list[str] = []
    with Pool(cluster) as pool:
        first_head = pool.head()
        worker = threading.Thread(target=lambda: results.append(run_mpi(
            pool, program, shared_mount="/shared", partition=cluster.default_partition, nodes=2, ntasks=2,
            args=[], timeout=120, console=Console(quiet=True), out=shown.append)))
        worker.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "".join(shown).count(" started") < 2:
            time.sleep(0.1)
        assert _running(pool, program.stem)
        first_head.get_transport().close()  # the network drops under the waiting task, its first lines shown
        worker.join(120)
        assert results, "run_mpi did not return"
        assert pool.head() is not first_head
        jobs = run(pool.head(), ["scontrol", "-o", "show", "jobs"], node="head", step="jobs").stdout
    assert results[0].state == "COMPLETED" and results[0].exit_code == 0
    assert "".join(shown) == results[0].stdout  # every line shown once, before and after the drop
    assert sorted(results[0].stdout.split("\n")[:-1]) == ["rank 0 done", "rank 0 started", "rank 1 done",
                                                           "rank 1 started"]
    assert jobs.count(f"JobName={program.stem} ") == 1


def _running(pool: Pool, job_name: str) -> bool:
    try:
        out = run(pool.head(), ["squeue", "-h", "-n", job_name, "-o", "%T"], node="head", step="squeue").stdout
    except Exception:
        return False
    return "RUNNING" in out


def test_slurm_exit_codes_parse_from_real_scontrol(cluster: Outputs) -> None:
    with Pool(cluster) as pool:
        line = run(pool.head(), ["scontrol", "-o", "show", "job", "1"], node="head", step="scontrol").stdout
    state = slurm.state_from_scontrol(line)  # job 1 is the ring of test_ring_prints_every_rank
    assert (state.state, state.exit_code, state.finished) == ("COMPLETED", 0, True)
    assert state.node_list == "compute-[0-1]"
