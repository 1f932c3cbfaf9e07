"""How `invoke plan` scales with the fleet: evaluate (the program under mocks) + cost for 2, 100 and
1,000 compute nodes, medians of a few rounds, with the ratio to the 2-node figure.

A partition is one launch template whatever its size (the head launches its nodes by name), so the plan should
cost the same at 1,000 nodes as at 2. It plans the real program (``stacks.aws.build``) of examples/specs/aws-hpc.yaml.

Usage: python benchmarks/plan.py [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spec.loader import load_spec_file  # noqa: E402
from targets.plan.cost import estimate  # noqa: E402
from targets.plan.mock_run import evaluate  # noqa: E402
from targets.plan.prices import load_prices  # noqa: E402

FLEETS = (2, 100, 1000)
SPEC = Path(__file__).resolve().parents[1] / "examples" / "specs" / "aws-hpc.yaml"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6 bench"


def program(nodes: int) -> tuple[str, Callable[[], object]]:
    from stacks.aws import build

    env = load_spec_file(SPEC).model_copy(deep=True)
    env.slurm_partitions[0].min = env.slurm_partitions[0].max = nodes
    return "stacks.aws.build (examples/specs/aws-hpc.yaml)", lambda: build(env, PUBLIC_KEY)


def measure(nodes: int, rounds: int) -> tuple[str, float, int, float]:
    """Median seconds of evaluate + cost, resources declared, cost per hour."""
    which, fn = program(nodes)
    prices = load_prices("us-east-1")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        resources = evaluate(fn, project="cloud-hpc-toolkit", stack="bench", region="us-east-1")
        per_hour = estimate(resources, prices).per_hour_usd
        times.append(time.perf_counter() - start)
    return which, statistics.median(times), len(resources), per_hour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    warnings.simplefilter("ignore", DeprecationWarning)  # pulumi_aws deprecation notices at import
    evaluate(program(2)[1], project="cloud-hpc-toolkit", stack="warm-up")  # imports, event loop
    results = {nodes: measure(nodes, rounds) for nodes in FLEETS}
    print(f"program: {results[FLEETS[0]][0]}; medians of {rounds} rounds")
    base = results[FLEETS[0]][1]
    print(f"{'nodes':>6} {'evaluate+cost':>14} {'ratio':>6} {'resources':>10} {'USD/hour':>10}")
    for nodes, (_, seconds, count, per_hour) in results.items():
        print(f"{nodes:>6} {seconds:>13.3f}s {seconds / base:>6.2f} {count:>10} {per_hour:>10.2f}")


if __name__ == "__main__":
    main()
