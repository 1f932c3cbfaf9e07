"""Where a local environment keeps its files, and the journal of what ``up`` built.

The journal is written as each piece is built, so a failed ``up`` (or a later ``destroy``) knows
exactly what to take down.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


def state_root() -> Path:
    return Path(os.environ.get("CHPC_STATE_DIR", "/var/lib/cloud-hpc-toolkit"))


def env_dir(name: str) -> Path:
    return state_root() / name


def outputs_path(name: str) -> Path:
    return env_dir(name) / "outputs.json"


@dataclass
class Journal:
    """What exists of a local environment; saved after every change."""

    name: str
    subnet: str = ""
    inits: dict[str, int] = field(default_factory=dict)
    created_dirs: list[str] = field(default_factory=list)
    retained: list[str] = field(default_factory=list)  # volume names marked retain
    # backing file name -> retain, recorded when attached; destroy deletes only those with retain false,
    # so a retained file from an earlier life survives an up that fails before attaching it
    volume_files: dict[str, bool] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return env_dir(self.name) / "journal.json"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, name: str) -> Journal:
        path = env_dir(name) / "journal.json"
        return cls(**json.loads(path.read_text())) if path.exists() else cls(name=name)


def known_environments() -> list[str]:
    root = state_root()
    return sorted(p.parent.name for p in root.glob("*/outputs.json")) if root.exists() else []
