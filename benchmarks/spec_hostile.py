"""How fast the spec loader answers hostile input: the cases of issue 12, one by one (medians of a few rounds, wall
and CPU), and the whole fuzz corpus of the tests (tests/spec_corpus.py) through `spec.check`'s ``main``, with its
outcomes and its slowest file.

Before the loader was bounded, the 600-byte billion laughs ran past 60 s and 2.8 GB, /dev/zero ended in
MemoryError, a FIFO hung and the 60,000-character Azure region took 13.5 s.

Usage: python benchmarks/spec_hostile.py [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spec import check  # noqa: E402
from spec.errors import SpecError  # noqa: E402
from spec.loader import load_spec_file, validate  # noqa: E402
from tests.spec_corpus import REPORTED, corpus, laughs  # noqa: E402

REGION = {"target": "azure", "region": "a" * 60_000 + "-", "ssh": {"allowed_cidr": "198.51.100.0/24"},
          "head": {"instance_type": "x"}, "compute": {"instance_type": "x"}}


def timed(call: object, rounds: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``call()``, an answer (an Environment) or a refusal (a SpecError)."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.suppress(SpecError):
            call()  # type: ignore[operator]
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def cases(folder: Path) -> dict[str, object]:
    written: dict[str, object] = {}
    for index, case in enumerate(REPORTED):
        path = folder / f"{index}.yaml"
        path.write_bytes(case.content)
        written[f"file: {case.name}"] = lambda path=path: load_spec_file(path)
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    written["file: a FIFO with no writer"] = lambda: load_spec_file(fifo)
    written["file: /dev/zero"] = lambda: load_spec_file(Path("/dev/zero"))
    bomb = folder / "bomb.yaml"
    bomb.write_text(laughs(12, 12) + "name: *l11\n")
    written["file: aliases expanding to 12**12 values"] = lambda: load_spec_file(bomb)
    written["config: 60,000-character Azure region (no file limit)"] = lambda: validate(REGION)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'case':58} {'wall ms':>8} {'cpu ms':>8}")
        for name, call in cases(Path(folder)).items():
            wall, cpu = timed(call, rounds)
            print(f"{name:58} {wall * 1000:8.1f} {cpu * 1000:8.1f}")
        outcomes: Counter[int] = Counter()
        slowest = (0.0, "")
        total_wall, total_cpu = time.perf_counter(), time.process_time()
        for index, case in enumerate(corpus()):
            path = Path(folder) / f"corpus-{index}.yaml"
            path.write_bytes(case.content)
            cpu = time.process_time()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                outcomes[check.main([str(path)])] += 1
            slowest = max(slowest, (time.process_time() - cpu, case.name))
        total_wall, total_cpu = time.perf_counter() - total_wall, time.process_time() - total_cpu
    print(f"corpus: {sum(outcomes.values())} specs, {outcomes[0]} valid, {outcomes[2]} refused in one line, "
          f"other exits {sum(n for code, n in outcomes.items() if code not in (0, 2))}; "
          f"{total_wall:.1f} s wall, {total_cpu:.1f} s CPU; slowest {slowest[1]} at {slowest[0] * 1000:.0f} ms CPU")


if __name__ == "__main__":
    main()
