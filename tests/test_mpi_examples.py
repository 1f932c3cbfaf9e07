"""The mpi4py examples in the OSU pattern, run for real with two ranks on this machine (shared memory, the runtime on
loopback), and read back the way `invoke bench-network`, the benchmark and the demo read them."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from remote.mpi_pair import parse

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "mpi"
PYTHON = "/usr/bin/python3"  # the python the nodes run, with Debian's mpi4py (the Makefile's APT_PACKAGES)


def mpirun(ranks: int, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["mpirun", "-np", str(ranks), "--oversubscribe", "--mca", "btl", "self,vader", "--mca",
            "oob_tcp_if_include", "lo", "--mca", "mpi_yield_when_idle", "1", PYTHON, str(EXAMPLES / script), *args]
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


def test_latency_prints_the_pair_and_one_line_per_size() -> None:
    result = mpirun(2, "latency.py", "--sizes", "0,1024,4096", "--iterations", "200", "--warmup", "10")
    assert result.returncode == 0, result.stderr
    figures = parse(result.stdout)
    assert figures.hosts == (socket.gethostname(), socket.gethostname())
    assert sorted(figures.latency_us) == [0, 1024, 4096] and all(us > 0 for us in figures.latency_us.values())
    assert figures.bandwidth_mb_s == {}
    assert result.stdout.count("iterations=200") == 3


def test_bandwidth_prints_one_line_per_size_with_its_window() -> None:
    result = mpirun(2, "bandwidth.py", "--sizes", "65536,1048576", "--iterations", "3", "--warmup", "1",
                    "--window", "8")
    assert result.returncode == 0, result.stderr
    figures = parse(result.stdout)
    assert sorted(figures.bandwidth_mb_s) == [65536, 1048576] and all(r > 0 for r in figures.bandwidth_mb_s.values())
    assert figures.latency_us == {} and result.stdout.count("window=8") == 2


def test_other_than_two_ranks_is_one_line_and_exit_2() -> None:
    result = mpirun(3, "latency.py", "--iterations", "10")
    assert result.returncode == 2
    assert "latency.py: needs exactly 2 ranks (one per node), got 3" in result.stderr
    assert "latency bytes=" not in result.stdout
