"""Tests that need root: a skip with its reason on a developer's machine, a failure under CI.

A CI run without root would otherwise pass by skipping every cluster and remote test; CI sets ``CI`` (`.ci/run`
does, as hosted runners do), so there a missing root is an error naming what to do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def under_ci() -> bool:
    """Whether ``CI`` is set to anything but empty, ``0`` or ``false``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def need_root(what: str, program: str | None = None) -> None:
    """Skips ``what`` (or fails it under CI) unless this is Linux, we are root and ``program`` is installed; callable
    at module level and in fixtures."""
    needs = "Linux and root" + (f" and {program}" if program else "")
    if sys.platform == "linux" and os.geteuid() == 0 and (program is None or Path(program).exists()):
        return
    if under_ci():
        pytest.fail(f"{what} need {needs}; CI must run them so (`make test` as root on Debian)", pytrace=False)
    pytest.skip(f"{what} need {needs} (CI runs them so)", allow_module_level=True)
