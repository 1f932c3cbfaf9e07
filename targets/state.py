"""Where environments keep their files: one folder per environment under the state root.

Every target saves the outputs contract here after `up`, so every later task finds it the same way.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_root() -> Path:
    return Path(os.environ.get("CHPC_STATE_DIR", "/var/lib/cloud-hpc-toolkit"))


def env_dir(name: str) -> Path:
    return state_root() / name


def outputs_path(name: str) -> Path:
    return env_dir(name) / "outputs.json"


def known_environments() -> list[str]:
    root = state_root()
    return sorted(p.parent.name for p in root.glob("*/outputs.json")) if root.exists() else []
