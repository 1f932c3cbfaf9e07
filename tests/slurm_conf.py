"""The slurm role's slurm.conf as ansible's own template module renders it, from the role's template with its
defaults under a node's variables, so a test reads what the role writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROLE = Path(__file__).resolve().parents[1] / "ansible" / "roles" / "slurm"
PLAYBOOK = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]


def render_slurm_conf(tmp_path: Path, variables: dict[str, Any], name: str = "slurm.conf") -> str:
    """slurm.conf (or the role's other file ``name``) for ``variables`` (rendered in ``tmp_path``)."""
    playbook = tmp_path / "render.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "vars_files": [str(ROLE / "defaults" / "main.yml")],
        "tasks": [{"name": "render", "ansible.builtin.template": {
            "src": str(ROLE / "templates" / f"{name}.j2"), "dest": str(tmp_path / name),
            "mode": "0644"}, "vars": variables}]}]))
    _play(tmp_path, playbook)
    return (tmp_path / name).read_text()


def _play(tmp_path: Path, playbook: Path, *args: str) -> None:
    binary = Path(sys.executable).with_name(PLAYBOOK[0])
    result = subprocess.run([str(binary), *PLAYBOOK[1:], *args, str(playbook)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible")})
    assert result.returncode == 0, result.stdout + result.stderr
