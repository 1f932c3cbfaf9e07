"""Two-node MPI latency on the local target, measured side by side in one run (README quotes it).

Brings up a local cluster (1 head + 2 compute nodes), then runs examples/mpi/latency.py (mpi4py, the OSU latency
pattern) as one rank on compute-0 and one on compute-1 through Slurm, in alternating rounds:

1. as the mpi role configured the nodes: every node shares this machine's cores, so ranks yield while they wait;
2. with polling forced (``--mca mpi_yield_when_idle 0``), as Open MPI does by default.

Reports the medians of 0-byte and 1 KiB latency of each, their ratio, and the goal: at most Foster & Gannon's TCP
ring on c3.xlarge, about 70 µs. Needs Linux and root, like the local target.
Usage: python benchmarks/mpi_latency.py [--rounds R] [--iterations N] [--poll-iterations N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from remote.mpi_pair import PairFigures, run_pair  # noqa: E402
from remote.pool import Pool  # noqa: E402
from spec.environment import Environment  # noqa: E402
from spec.outputs import Outputs  # noqa: E402
from targets.local import target  # noqa: E402

LATENCY = Path(__file__).resolve().parents[1] / "examples" / "mpi" / "latency.py"
GOAL_US = 70.0  # Foster & Gannon, Cloud Computing for Science and Engineering: a TCP ring on c3.xlarge
POLL = {"mpi_yield_when_idle": "0"}


def ping_pong(outputs: Outputs, iterations: int, mca: dict[str, str] | None) -> PairFigures:
    assert outputs.shared is not None
    with Pool(outputs) as pool:
        figures = run_pair(pool, [LATENCY], ["--sizes", "0,1024", "--iterations", str(iterations)],
                           shared_mount=outputs.shared.mount, partition=outputs.default_partition, timeout=600, mca=mca)
    assert sorted(figures.hosts) == ["compute-0", "compute-1"], figures.hosts
    return figures


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each way (default 5)")
    parser.add_argument("--iterations", type=int, default=10000,
                        help="timed round trips per size as configured (default 10000, as osu_latency)")
    parser.add_argument("--poll-iterations", type=int, default=200,
                        help="timed round trips per size with polling forced (default 200: milliseconds each)")
    args = parser.parse_args()
    own_state = "CHPC_STATE_DIR" not in os.environ
    os.environ.setdefault("CHPC_STATE_DIR", tempfile.mkdtemp(prefix="chpc-bench-", dir="/var/tmp"))
    quiet = Console(quiet=True)
    env = Environment.local_default(nodes=2, name=f"benchlat-{os.getpid():x}")
    outputs = target.up(env, quiet)
    load_before = load()
    yielding: list[PairFigures] = []
    polling: list[PairFigures] = []
    try:
        for _ in range(args.rounds):
            yielding.append(ping_pong(outputs, args.iterations, None))
            polling.append(ping_pong(outputs, args.poll_iterations, POLL))
    finally:
        target.destroy(env.name, quiet)
        if own_state:
            shutil.rmtree(os.environ["CHPC_STATE_DIR"], ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores, load {load_before} before, {load()} after; compute-0 <-> compute-1, "
          f"one rank each; medians of {args.rounds} rounds")
    for size, label in ((0, "0 B"), (1024, "1 KiB")):
        configured = statistics.median(f.latency_us[size] for f in yielding)
        forced = statistics.median(f.latency_us[size] for f in polling)
        verdict = "met" if configured <= GOAL_US else "NOT met"
        print(f"{label:>5} latency: ranks yield (the mpi role) {configured:,.1f} us; polling forced {forced:,.1f} us; "
              f"ratio {forced / configured:,.0f}; goal <= {GOAL_US:g} us: {verdict}")


if __name__ == "__main__":
    main()
