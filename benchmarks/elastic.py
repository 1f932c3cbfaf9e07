"""Elastic partitions on the local target, measured side by side in one run (README quotes the figures).

1. Submit to running for a job on a cold partition of N nodes (none exist and Slurm has them powered down: it
   starts them through the power agent) beside the same job submitted to the same nodes while they still run
   (warm): what starting costs.
2. Idle to gone: from the job's end until every started node is gone (namespaces, processes, loop devices), beside
   the idle time the spec asks for.
3. `up` of 1 head and a partition of max N nodes, none always on, beside `up` of 1 head + N static nodes.

Needs Linux and root, like the local target. Usage: python benchmarks/elastic.py [--nodes N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from remote.pool import Pool  # noqa: E402
from remote.run import run  # noqa: E402
from spec.environment import Environment, local_default_spec  # noqa: E402
from spec.outputs import Outputs  # noqa: E402
from targets.local import target  # noqa: E402
from targets.local.network import netns_name  # noqa: E402

IDLE_MINUTES = 0.25
POLL = 0.1


def submit(pool: Pool, nodes: int) -> str:
    return run(pool.head(), ["sbatch", "--parsable", "-p", "cpu", f"-N{nodes}", "--wrap", "hostname"],
               node="head", step="sbatch").stdout.strip()


def state(pool: Pool, job: str) -> str:
    return run(pool.head(), ["squeue", "-h", "-j", job, "-o", "%T"], node="head", step="squeue",
               check=False).stdout.strip() or "GONE"


def to_running(pool: Pool, nodes: int) -> float:
    """Seconds from sbatch to the job running (or already done: a short job can end between two polls)."""
    start = time.perf_counter()
    job = submit(pool, nodes)
    while state(pool, job) not in ("RUNNING", "COMPLETING", "GONE"):
        time.sleep(POLL)
    seconds = time.perf_counter() - start
    while state(pool, job) != "GONE":
        time.sleep(POLL)
    return seconds


def until_gone(outputs: Outputs, nodes: int) -> float:
    start = time.perf_counter()
    while any(Path("/run/netns", netns_name(outputs.name, f"cpu-{i}")).exists() for i in range(nodes)):
        time.sleep(POLL)
    return time.perf_counter() - start


def until_powered_down(pool: Pool) -> float:
    """Until Slurm has every node of the partition powered down again (its SuspendTimeout after the stop): only
    then is the partition cold for the next round."""
    start = time.perf_counter()
    while any(state != "idle~" for state in run(pool.head(), ["sinfo", "-h", "-N", "-p", "cpu", "-o", "%t"],
                                                node="head", step="sinfo").stdout.split()):
        time.sleep(POLL)
    return time.perf_counter() - start


def timed_up(env: Environment, console: Console) -> tuple[float, Outputs]:
    start = time.perf_counter()
    outputs = target.up(env, console)
    return time.perf_counter() - start, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2, help="nodes the partition starts (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each timed step (default 3)")
    args = parser.parse_args()
    own_state = "CHPC_STATE_DIR" not in os.environ
    os.environ.setdefault("CHPC_STATE_DIR", tempfile.mkdtemp(prefix="chpc-bench-", dir="/var/tmp"))
    quiet = Console(quiet=True)
    static = Environment.local_default(nodes=args.nodes, name="bench-static")
    elastic = Environment.model_validate({
        **{k: v for k, v in local_default_spec(name="bench-elastic").items() if k != "compute"},
        "partitions": [{"name": "cpu", "min": 0, "max": args.nodes}], "scaling": {"idle_minutes": IDLE_MINUTES}})
    cold, warm, gone = [], [], []
    try:
        static_up, _ = timed_up(static, quiet)
        target.destroy(static.name, quiet)
        elastic_up, outputs = timed_up(elastic, quiet)
        with Pool(outputs) as pool:
            for _ in range(args.rounds):
                cold.append(to_running(pool, args.nodes))
                warm.append(to_running(pool, args.nodes))
                gone.append(until_gone(outputs, args.nodes))
                until_powered_down(pool)
    finally:
        for env in (static, elastic):
            target.destroy(env.name, quiet)
        if own_state:
            shutil.rmtree(os.environ["CHPC_STATE_DIR"], ignore_errors=True)
    med = statistics.median
    print(f"machine: {os.cpu_count()} cores; a partition of {args.nodes} nodes; medians of {args.rounds} rounds")
    print(f"rounds, cold: {', '.join(f'{x:.1f}' for x in cold)} s; warm: {', '.join(f'{x:.1f}' for x in warm)} s")
    print(f"submit to running: cold partition {med(cold):.1f} s; the same nodes warm {med(warm):.1f} s; "
          f"ratio {med(cold) / med(warm):.1f}")
    print(f"idle to gone (after the last job; idle time asked {IDLE_MINUTES * 60:.0f} s): {med(gone):.1f} s")
    print(f"up: 1 head + 0 of {args.nodes} elastic {elastic_up:.1f} s; 1 head + {args.nodes} static "
          f"{static_up:.1f} s")


if __name__ == "__main__":
    main()
