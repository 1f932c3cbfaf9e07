"""Running host commands for the local target, with errors that name the step."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


class LocalError(RuntimeError):
    """A step of the local target failed; the message says which and what to do."""


def sh(argv: Sequence[str], step: str, *, check: bool = True, input_text: str | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run argv (never through a shell); on failure raise LocalError naming the step and stderr."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, input=input_text, timeout=timeout)
    except FileNotFoundError as exc:
        raise LocalError(f"{step}: {argv[0]} is not installed; run `make setup` (or `make demo`)") from exc
    except subprocess.TimeoutExpired as exc:
        raise LocalError(f"{step}: `{' '.join(argv)}` did not finish in {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LocalError(f"{step}: `{' '.join(argv)}` exited {proc.returncode}: {' | '.join(detail)}")
    return proc
