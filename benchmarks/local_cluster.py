"""Figures for the local target, measured side by side in one run (README quotes them).

1. `up` time for 1 head + N compute nodes (default 2).
2. `run-mpi` (upload, compile, sbatch, follow, fetch) against a bare `sbatch --wait` of the same
   binary over one SSH session: the toolkit's overhead as a ratio.
3. One command fanned out to every node against the same command node after node (fresh connections
   each round, compute nodes reached through the head in both cases).

Needs Linux and root, like the local target. Usage: python benchmarks/local_cluster.py [--nodes N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from remote.fanout import fan_out  # noqa: E402
from remote.mpi_job import run_mpi  # noqa: E402
from remote.pool import Pool  # noqa: E402
from remote.run import run  # noqa: E402
from spec.environment import Environment  # noqa: E402
from spec.outputs import Outputs  # noqa: E402
from targets.local import target  # noqa: E402

RING = Path(__file__).resolve().parents[1] / "examples" / "mpi" / "ring.c"
FANOUT_COMMAND = "findmnt -rn -o TARGET,FSTYPE; blkid -o value -s TYPE /dev/loop* || true"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_sbatch(outputs: Outputs, binary: str, nodes: int, ntasks: int) -> None:
    """What a user would type by hand: one SSH session, `sbatch --wait`, read the output file."""
    with Pool(outputs) as pool:
        run(pool.head(), f"cd /shared && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
            f"sbatch --wait -N{nodes} -n{ntasks} -o bare-%j.out --wrap 'mpirun {binary}' >/dev/null && "
            "cat $(ls -t bare-*.out | head -1)", node="head", step="bare sbatch")


def toolkit_run(outputs: Outputs, nodes: int, ntasks: int) -> None:
    with Pool(outputs) as pool:
        result = run_mpi(pool, RING, shared_mount="/shared", partition=outputs.default_partition, nodes=nodes,
                         ntasks=ntasks, args=[], timeout=300, console=Console(quiet=True))
    assert result.exit_code == 0, result.stderr


def fanned(outputs: Outputs) -> None:
    with Pool(outputs) as pool:
        fan_out(pool, [n.name for n in outputs.nodes()],
                lambda client, name: run(client, FANOUT_COMMAND, node=name, step="bench"), step="bench")


def serial(outputs: Outputs) -> None:
    with Pool(outputs) as pool:
        for node in outputs.nodes():
            run(pool.client(node.name), FANOUT_COMMAND, node=node.name, step="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2, help="compute nodes (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="repetitions of each timed step (default 5)")
    args = parser.parse_args()
    own_state = "CHPC_STATE_DIR" not in os.environ
    os.environ.setdefault("CHPC_STATE_DIR", tempfile.mkdtemp(prefix="chpc-bench-", dir="/var/tmp"))
    quiet = Console(quiet=True)
    env = Environment.local_default(nodes=args.nodes, name="bench")
    up_start = time.perf_counter()
    outputs = target.up(env, quiet)
    up_seconds = time.perf_counter() - up_start
    try:
        with Pool(outputs) as pool:
            run(pool.head(), ["mpicc", "-O2", "-o", "/shared/ring-bare", str(RING)], node="head", step="compile")
        ntasks = 2 * args.nodes
        toolkit = [timed(lambda: toolkit_run(outputs, args.nodes, ntasks)) for _ in range(args.rounds)]
        bare = [timed(lambda: bare_sbatch(outputs, "/shared/ring-bare", args.nodes, ntasks))
                for _ in range(args.rounds)]
        fan = [timed(lambda: fanned(outputs)) for _ in range(args.rounds)]
        one_by_one = [timed(lambda: serial(outputs)) for _ in range(args.rounds)]
    finally:
        target.destroy(env.name, quiet)
        if own_state:
            shutil.rmtree(os.environ["CHPC_STATE_DIR"], ignore_errors=True)
    med = statistics.median
    print(f"machine: {os.cpu_count()} cores; {args.nodes} compute nodes; medians of {args.rounds} rounds")
    print(f"local up (1 head + {args.nodes} compute): {up_seconds:.1f} s")
    print(f"run-mpi ring ({ntasks} ranks): {med(toolkit):.2f} s; bare sbatch --wait: {med(bare):.2f} s; "
          f"ratio {med(toolkit) / med(bare):.2f}")
    print(f"command on {args.nodes + 1} nodes: fan-out {med(fan):.3f} s; node after node {med(one_by_one):.3f} s; "
          f"ratio {med(one_by_one) / med(fan):.2f}")


if __name__ == "__main__":
    main()
