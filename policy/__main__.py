"""Entry point the Pulumi CLI runs for the policy pack (constructing PolicyPack serves until killed:
tests import ``policy.policies`` instead)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: components.security

from pulumi_policy import PolicyPack  # noqa: E402

from policy.policies import POLICIES  # noqa: E402

PolicyPack(name="cloud-hpc-toolkit-security", policies=POLICIES)
