"""Spark figures for the local target: the word count on a generated input of at least 200 MB.

1. `submit_local` on the standalone cluster (master on the head, 1 worker x 1 core on each of 2 compute
   nodes), input already on the shared file system (a file:// URI, passed through): Spark's own time.
2. The same through the whole road: a local input uploaded over SFTP and the results copied back.
3. The same script under `spark-submit --master local[2]` on one node (the head), same input.
Ratio 1/3 is what the cluster costs (or gains) over one JVM with as many threads; rows/s = input lines / wall
time. Every node shares this machine's cores, so the cluster cannot beat local[2] by parallelism here:
the figure measures the overhead of executors, shuffle over the network and the toolkit.

Needs Linux and root. Usage: python benchmarks/spark_local.py [--mb 200] [--rounds 3]
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
from remote.spark_job import SPARK_SUBMIT, submit_local  # noqa: E402
from spec.environment import local_default_spec  # noqa: E402
from spec.loader import validate  # noqa: E402
from spec.outputs import Outputs  # noqa: E402
from targets.local import target  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "spark"
sys.path.insert(0, str(EXAMPLES))
from generate import generate  # noqa: E402

QUIET = Console(quiet=True)


def cluster_run(outputs: Outputs, input: str, output: str | None) -> float:
    start = time.perf_counter()
    with Pool(outputs) as pool:
        result = submit_local(pool, EXAMPLES / "wordcount.py", shared_mount="/shared", master=outputs.spark.master,
                              input=input, output=output, args=[], timeout=3600, console=QUIET)
    assert result.exit_code == 0, result.cause or result.stderr[-2000:]
    return time.perf_counter() - start


def local2_run(outputs: Outputs, output: str) -> float:
    """spark-submit --master local[2] on the head: one JVM, two task threads, the same script and input."""
    start = time.perf_counter()
    with Pool(outputs) as pool:
        run(pool.head(), [SPARK_SUBMIT, "--master", "local[2]", "/shared/bench/wordcount.py",
                          "/shared/bench/words.txt", output], node="head", step="spark-submit local[2]",
            timeout=3600)
    return time.perf_counter() - start


def lines_of(folder: Path) -> list[str]:
    return [line for part in sorted(folder.glob("part-*")) for line in part.read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200, help="input size in MB (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each timed run (default 3)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chpc-sparkbench-", dir="/var/tmp"))
    os.environ.setdefault("CHPC_STATE_DIR", str(work / "state"))
    env = validate({**local_default_spec(2, name="sparkbench"), "spark": {}})
    try:
        local_input = work / "words.txt"
        rows = generate(local_input, args.mb)
        size = local_input.stat().st_size / 2**20
        print(f"input: {size:.0f} MB, {rows} lines")
        up = time.perf_counter()
        outputs = target.up(env, QUIET)
        print(f"up with Spark (1 master + 2 workers): {time.perf_counter() - up:.1f} s")
        bench = Path(outputs.shared.source) / "bench"
        bench.mkdir()
        shutil.copy(local_input, bench / "words.txt")
        shutil.copy(EXAMPLES / "wordcount.py", bench / "wordcount.py")
        timings: dict[str, list[float]] = {"cluster": [], "road": [], "local2": []}
        for round_ in range(args.rounds):
            timings["cluster"].append(cluster_run(outputs, "file:///shared/bench/words.txt", None))
            timings["road"].append(cluster_run(outputs, str(local_input), str(work / f"road-{round_}")))
            timings["local2"].append(local2_run(outputs, f"/shared/bench/local2-{round_}"))
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in timings.items()))
        assert lines_of(work / "road-0") == lines_of(bench / "local2-0"), "cluster and local[2] disagree"
        median = {name: statistics.median(values) for name, values in timings.items()}
        print(f"\nword count, {size:.0f} MB / {rows} lines, medians of {args.rounds}:")
        labels = {"cluster": "cluster (input on the shared fs)", "road": "cluster + upload + download",
                  "local2": "spark-submit --master local[2] (head)"}
        for name, label in labels.items():
            print(f"  {label:<38} {median[name]:7.1f} s  {rows / median[name]:9.0f} rows/s")
        print(f"  ratio cluster / local[2]              {median['cluster'] / median['local2']:7.2f}")
    finally:
        target.destroy(env.name, QUIET)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
