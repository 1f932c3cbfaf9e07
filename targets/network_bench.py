"""Latency and bandwidth between two compute nodes of an environment (`invoke bench-network`, the demo's latency
check): the OSU-pattern programs of ``examples/mpi/`` run over MPI, one rank per node, and the lines that report
them beside what the nodes' networking should give."""

from __future__ import annotations

from pathlib import Path

from remote.mpi_pair import PairFigures, run_pair
from remote.pool import Pool
from targets.errors import TargetError
from targets.network_expectation import Expectation, far_off

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "mpi"
LATENCY, BANDWIDTH = EXAMPLES / "latency.py", EXAMPLES / "bandwidth.py"  # bandwidth.py imports from latency.py
LATENCY_ARGS = ("--sizes", "0,1024", "--iterations", "1000")  # enough for a figure in a second, even when slow


def latency(pool: Pool, timeout: float) -> PairFigures:
    """0-byte and 1 KiB latency between two compute nodes."""
    return _run(pool, [LATENCY], LATENCY_ARGS, timeout)


def bandwidth(pool: Pool, timeout: float) -> PairFigures:
    """Bandwidth from one compute node to another with large messages (1 and 4 MiB)."""
    return _run(pool, [BANDWIDTH, LATENCY], (), timeout)


def _run(pool: Pool, scripts: list[Path], args: tuple[str, ...], timeout: float) -> PairFigures:
    """The job on two compute nodes, once it is clear that there are two and a shared file system to run from."""
    outputs = pool.outputs
    if len(outputs.computes) < 2:
        raise TargetError(f"environment {outputs.name!r} has {len(outputs.computes)} compute node(s) running; "
                          "measuring between two needs two (`invoke up --nodes 2`)")
    if outputs.shared is None:
        raise TargetError(f"environment {outputs.name!r} has no shared file system to run the job from; add "
                          "storage.shared to its spec")
    return run_pair(pool, scripts, args, shared_mount=outputs.shared.mount, partition=outputs.default_partition,
                    timeout=timeout)


def size(count: int) -> str:
    """A message size as a person reads it: 0 B, 1 KiB, 4 MiB."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count} B"


def report(figures: PairFigures, rates: PairFigures | None, expected: Expectation | None) -> list[str]:
    """The lines of a measurement: the pair, one line per size, what the networking should give, and a warning
    when the 0-byte latency is far above it."""
    lines = [f"{figures.hosts[0]} ↔ {figures.hosts[1]}: MPI, one rank per node (OSU pattern, mpi4py)"]
    lines += [f"latency    {size(count):>7}  {us:>10,.2f} µs" for count, us in sorted(figures.latency_us.items())]
    if rates is not None:
        lines += [f"bandwidth  {size(count):>7}  {rate:>10,.0f} MB/s"
                  for count, rate in sorted(rates.bandwidth_mb_s.items())]
    if expected is None:
        lines.append("expected   unknown: the environment's outputs do not say what its compute nodes run on "
                     "(a stack deployed before compute_machine was exported: `invoke up --stack STACK` again)")
        return lines
    low, high = expected.latency_us
    lines.append(f"expected   {expected.fabric}: latency {low:g}–{high:g} µs; bandwidth {expected.bandwidth}")
    warning = far_off(figures.latency_us[0], expected) if 0 in figures.latency_us else None
    return lines + ([warning] if warning else [])
