"""``python -m spec.check FILE``: validate a spec without touching any target.

Prints ``ok: ...`` or the one-line error on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

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
    count = env.compute.count
    print(f"ok: {env.name} ({env.target}, {count} compute node{'' if count == 1 else 's'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
