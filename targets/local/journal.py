"""The journal of what a local ``up`` built.

The journal is written as each piece is built, so a failed ``up`` (or a later ``destroy``) knows
exactly what to take down.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from targets.state import JOURNAL, env_dir, make_env_dir, write_private


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
        return env_dir(self.name) / JOURNAL

    def save(self) -> None:
        """Atomically: an `up` killed mid-write must leave a journal `destroy` can read."""
        make_env_dir(self.name)
        write_private(self.path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, name: str) -> Journal:
        path = env_dir(name) / JOURNAL
        return cls(**json.loads(path.read_text())) if path.exists() else cls(name=name)
