"""A rule's verdict on one field or resource: an error stops the spec (or the deployment), a warning is shown.

Standard library only: the policy pack (``policy/``) reads it through ``components.security`` without the
project's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Literal["error", "warning"]
    resource: str
    message: str

    def line(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.message}"
