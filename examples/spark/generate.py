"""Write a word-count input of a given size, the same bytes for the same size and seed (for the benchmark).

Words are drawn with Zipf-like weights from the vocabulary of the shipped text plus generated words, so
the counts have the long tail of real text. Usage: python generate.py OUT.txt --mb 200 [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "data" / "words.txt"
LINE_WORDS = 12


def vocabulary(rng: random.Random, extra: int = 20000) -> list[str]:
    known = sorted(set(re.findall(r"[a-z0-9']+", SHIPPED.read_text().lower())))
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(extra)}
    words = known + sorted(made - set(known))
    rng.shuffle(words)
    return words


def generate(path: Path, megabytes: float, seed: int = 1) -> int:
    """Write about ``megabytes`` MB of lines to ``path``; returns the number of lines."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    cumulative = []
    total = 0.0
    for rank in range(len(words)):
        total += 1 / (rank + 1)
        cumulative.append(total)
    target = int(megabytes * 1024 * 1024)
    written = lines = 0
    with path.open("w", encoding="ascii") as out:
        while written < target:
            block = "".join(" ".join(rng.choices(words, cum_weights=cumulative, k=LINE_WORDS)) + "\n"
                            for _ in range(2000))
            out.write(block)
            written += len(block)
            lines += 2000
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--mb", type=float, default=200, help="size in MB (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    lines = generate(options.out, options.mb, options.seed)
    print(f"{options.out}: {options.out.stat().st_size / 2**20:.1f} MB, {lines} lines")


if __name__ == "__main__":
    main()
