"""Write ``requirements.txt`` from ``pyproject.toml``'s runtime dependencies (``make setup`` runs it).

Pulumi's pip toolchain (``Pulumi.yaml``) installs ``requirements.txt`` into the ``.venv`` it creates on a fresh
clone, while ``pyproject.toml`` stays the one list of dependencies: this file is only ever written from it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("# Written by `make setup` from pyproject.toml's [project].dependencies (tools/requirements_txt.py):\n"
          "# edit those. Pulumi's pip toolchain installs this file into the .venv it creates on a fresh clone.\n")


def render(pyproject: Path) -> str:
    """The runtime dependencies exactly as pinned in ``pyproject``, one a line (the extras stay out)."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return HEADER + "".join(f"{dependency}\n" for dependency in dependencies)


if __name__ == "__main__":
    (ROOT / "requirements.txt").write_text(render(ROOT / "pyproject.toml"), encoding="utf-8")
