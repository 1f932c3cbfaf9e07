"""Which environment variable names say "secret": a plain value under one is readable by whoever may describe the
task definition or container group. Standard library only, for the policy pack (see :mod:`spec.findings`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|(^|_)(API_?|PRIVATE_?|ACCESS_?)?KEY($|_)", re.I)


def plaintext_secret_names(environment: Mapping[str, Any]) -> list[str]:
    """Environment variables whose name says secret and whose value is given in plain text."""
    return [name for name, value in environment.items() if SECRET_NAME.search(name) and value not in (None, "")]
