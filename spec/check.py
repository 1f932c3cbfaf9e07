"""``python -m spec.check FILE``: validate a spec without touching any target.

Prints ``ok: ...`` (what the spec builds) or the one-line error on stderr with exit code 2, never a traceback: the
same line ``invoke plan`` and ``invoke up`` give, since every entry point validates through :class:`Environment`.
"""

from __future__ import annotations

import sys

from spec.environment import Environment
from spec.errors import SpecError
from spec.loader import load_spec_file


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m spec.check FILE", file=sys.stderr)
        return 2
    try:
        env = load_spec_file(args[0])
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"ok: {env.name} ({env.target}, {summary(env)})")
    return 0


def summary(env: Environment) -> str:
    """What the spec builds: its stack, and the compute nodes when it builds Slurm."""
    partitions = env.slurm_partitions
    if not partitions:
        return f"stack {env.stack}"
    if len(partitions) == 1 and not partitions[0].elastic:
        count = partitions[0].max
        return f"stack {env.stack}: {count} compute node{'' if count == 1 else 's'}"
    return f"stack {env.stack}: partitions " + ", ".join(
        f"{p.name} {p.min}-{p.max}" if p.elastic else f"{p.name} {p.max}" for p in partitions)


if __name__ == "__main__":
    sys.exit(main())
