"""Prints the arguments spark-submit handed the script, as one JSON line: the quoting tests compare it with what
the user typed."""

from __future__ import annotations

import json
import sys

if __name__ == "__main__":
    print("argv " + json.dumps(sys.argv[1:]))
