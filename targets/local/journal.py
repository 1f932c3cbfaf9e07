"""The journal of what a local ``up`` built.

The journal is written as each piece is built, so a failed ``up`` (or a later ``destroy``) knows
exactly what to take down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from targets.state import JOURNAL, destroy_remedy, env_dir, make_env_dir, read_typed, write_state


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
    agent: int = 0  # the power agent's pid, when some nodes start and stop with the work
    floors: dict[str, int] = field(default_factory=dict)  # partition -> floor, where `invoke scale` moved it

    @property
    def path(self) -> Path:
        return env_dir(self.name) / JOURNAL

    def save(self) -> None:
        """Atomically: an `up` killed mid-write must leave a journal `destroy` can read."""
        make_env_dir(self.name)
        write_state(self.path, asdict(self))

    @classmethod
    def load(cls, name: str) -> Journal:
        """The journal of ``name`` (an empty one when there is none); one line when this version cannot read it."""
        path = env_dir(name) / JOURNAL
        if not path.exists():
            return cls(name=name)
        return read_typed(path, destroy_remedy(name), cls, {f.name for f in fields(cls)})
