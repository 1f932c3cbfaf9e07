"""MPI at the network's speed on a real local cluster: the mpi role's yield-or-poll decision from the facts a node
sees, its refusal of rdma facts on a node without the fabric, the mpi4py ping-pong across two nodes with it in place,
and `invoke bench-network`."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from components.boot.script import BOOT_VARS
from remote.errors import RemoteError
from remote.mpi_pair import run_pair
from remote.pool import Pool
from remote.run import Result, run
from spec.outputs import Outputs
from tests.local.harness import ROOT, invoke

pytestmark = pytest.mark.local_cluster

MCA_FILE = "/etc/openmpi/openmpi-mca-params.conf"
LATENCY = ROOT / "examples" / "mpi" / "latency.py"
TCP = {"pml": "ob1", "btl": "tcp,vader,self", "btl_tcp_if_include": "eth0", "oob_tcp_if_include": "eth0",
       "btl_vader_single_copy_mechanism": "none"}  # what the role writes whatever it decides


def mca_params(pool: Pool, node: str) -> dict[str, str]:
    text = run(pool.client(node), ["cat", MCA_FILE], node=node, step="read the MCA file").stdout
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def run_mpi_role(pool: Pool, node: str, path: str = "", **facts: int | str) -> Result:
    """The mpi role run again on ``node`` as its boot ran it, with ``facts`` in place of its own (and ``path``
    first on PATH)."""
    playbook = Path(sys.executable).with_name("ansible-playbook")
    extra = [arg for key, value in facts.items() for arg in ("-e", f"{key}={value}")]
    command = (f'{f"PATH={shlex.quote(path)}:$PATH " if path else ""}'
               f"CHPC_PYTHON={shlex.quote(sys.executable)} CHPC_ANSIBLE_PLAYBOOK={shlex.quote(str(playbook))} "
               f"sh {shlex.quote(str(ROOT / 'ansible' / 'boot.sh'))} {BOOT_VARS} --tags mpi {shlex.join(extra)}")
    return run(pool.client(node), command, node=node, step="mpi role", timeout=300, check=False)


def mpi_role(pool: Pool, node: str, **facts: int | str) -> dict[str, str]:
    """The mpi role run again on ``node`` with ``facts``; the file it writes."""
    result = run_mpi_role(pool, node, **facts)
    assert result.exit_code == 0, result.stdout + result.stderr
    return mca_params(pool, node)


def test_nodes_sharing_this_machines_cores_make_ranks_yield(cluster: Outputs) -> None:
    with Pool(cluster) as pool:
        for node in ("compute-0", "compute-1"):
            assert mca_params(pool, node) == {**TCP, "mpi_yield_when_idle": "1"}
        seen = run(pool.client("compute-0"), "ompi_info --parsable --param mpi all --level 9 | grep yield_when_idle",
                   node="compute-0", step="ompi_info").stdout
    assert "mca:mpi:base:param:mpi_yield_when_idle:value:true" in seen  # what every rank's Open MPI reads
    assert re.search(rf"^mca:mpi:base:param:mpi_yield_when_idle:source:file \({MCA_FILE}:\d+\)$", seen, re.M), seen


def test_a_node_with_cores_of_its_own_polls_and_one_slurm_oversubscribes_yields(cluster: Outputs) -> None:
    """The role decides from facts, not from the target: the same role on the same machine polls when the node is
    told what a cloud node is (alone on its machine, Slurm counting its cores) and yields when Slurm gives it more
    CPUs than the machine has."""
    with Pool(cluster) as pool:
        cores = int(run(pool.head(), ["nproc"], node="head", step="nproc").stdout)
        try:
            assert mpi_role(pool, "head", mpi_nodes_per_machine=1, slurm_cpus=0) == TCP
            assert mpi_role(pool, "head", mpi_nodes_per_machine=1, slurm_cpus=cores) == TCP
            assert mpi_role(pool, "head", mpi_nodes_per_machine=1, slurm_cpus=cores + 1) == {
                **TCP, "mpi_yield_when_idle": "1"}
        finally:
            restored = mpi_role(pool, "head")  # the head's own facts again (3 nodes on this machine)
    assert restored == {**TCP, "mpi_yield_when_idle": "1"}


def test_rdma_facts_on_a_node_without_the_fabric_are_refused_and_leave_tcp_in_place(cluster: Outputs) -> None:
    """A cloud node told rdma whose fabric is missing fails its boot at the mpi role, naming what it lacks, rather
    than writing a configuration every rank would fail on; the local target is never told rdma."""
    with Pool(cluster) as pool:
        before = mca_params(pool, "compute-0")
        aws = run_mpi_role(pool, "compute-0", mpi_cloud="aws", mpi_networking="rdma")
        azure = run_mpi_role(pool, "compute-0", mpi_cloud="azure", mpi_networking="rdma")
        local = run_mpi_role(pool, "compute-0", mpi_cloud="local", mpi_networking="rdma")
        after = mca_params(pool, "compute-0")
    assert aws.exit_code != 0 and "compute-0: libfabric sees no EFA device (fi_getinfo: -61)" in aws.stdout, aws
    assert azure.exit_code != 0 and "compute-0: InfiniBand port mlx5_ib0:1 is not active" in azure.stdout, azure
    assert local.exit_code != 0 and "mpi_cloud=local, mpi_networking=rdma: allowed:" in local.stdout, local
    assert before == after == {**TCP, "mpi_yield_when_idle": "1"}


def test_a_node_whose_mpirun_is_another_mpi_is_refused(cluster: Outputs) -> None:
    """Jobs launch with the mpirun on the nodes' PATH: the role fails the boot when that one is not the Open MPI
    whose file it writes (here an MPICH-like launcher first on PATH), and passes with the distribution's."""
    other = "/tmp/other-mpi"  # the node's own /tmp
    with Pool(cluster) as pool:
        run(pool.client("compute-1"), f"mkdir -p {other} && printf '#!/bin/sh\\necho HYDRA build details:\\n' > "
            f"{other}/mpirun && chmod 0755 {other}/mpirun", node="compute-1", step="another mpirun")
        refused = run_mpi_role(pool, "compute-1", path=other)
        own = run_mpi_role(pool, "compute-1")
    assert refused.exit_code != 0, refused
    assert (f"compute-1: the mpirun on PATH (mpirun: {other}/mpirun, HYDRA build details:) does not read "
            "/etc/openmpi/openmpi-mca-params.conf") in refused.stdout, refused.stdout
    assert own.exit_code == 0, own.stdout + own.stderr


def test_the_mpi4py_ping_pong_runs_one_rank_on_each_of_two_nodes(cluster: Outputs) -> None:
    assert cluster.shared is not None
    with Pool(cluster) as pool:
        figures = run_pair(pool, [LATENCY], ["--sizes", "0,1024", "--iterations", "200"],
                           shared_mount=cluster.shared.mount, partition=cluster.default_partition, timeout=300)
    assert sorted(figures.hosts) == ["compute-0", "compute-1"]
    assert sorted(figures.latency_us) == [0, 1024] and all(us > 0 for us in figures.latency_us.values())


def test_a_pair_job_that_fails_is_one_error_naming_the_job_and_its_output(cluster: Outputs, tmp_path: Path) -> None:
    failing = tmp_path / "fails.py"
    failing.write_text("import sys\nprint('no such size', file=sys.stderr)\nsys.exit(3)\n")
    assert cluster.shared is not None
    with Pool(cluster) as pool, pytest.raises(RemoteError) as caught:
        run_pair(pool, [failing], [], shared_mount=cluster.shared.mount, partition=cluster.default_partition,
                 timeout=300)
    assert caught.value.step == "fails.py on two nodes"
    assert re.search(r"job \d+ ended FAILED \(exit 3\) after \d+ s: no such size", caught.value.detail)
    assert "mpirun detected" not in caught.value.detail  # Open MPI's notice says that a rank failed, not why


def test_bench_network_prints_latency_bandwidth_and_what_the_network_should_give(cluster: Outputs,
                                                                                 state_dir: Path) -> None:
    result = invoke(state_dir, "bench-network", "--name", cluster.name)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^compute-\d ↔ compute-\d: MPI, one rank per node \(OSU pattern, mpi4py\)$", out, re.M), out
    for kind, size, unit in (("latency", "0 B", "µs"), ("latency", "1 KiB", "µs"), ("bandwidth", "1 MiB", "MB/s"),
                             ("bandwidth", "4 MiB", "MB/s")):
        assert re.search(rf"^{kind} +{size} +[\d,]+(\.\d+)? {re.escape(unit)}$", out, re.M), out
    assert ("expected   TCP over a Linux bridge (every node on this one machine): latency 5–50 µs; bandwidth a copy "
            "through this machine's kernel: 1,000 MB/s or more") in out
