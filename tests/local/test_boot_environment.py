"""What the roles run with inside a local node: Mitogen's strategy, which Ansible loads from the environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from targets.local import boot


def test_a_local_nodes_playbook_runs_with_mitogens_strategy(tmp_path: Path) -> None:
    environment = boot.environment()
    assert environment["ANSIBLE_STRATEGY"] == "mitogen_linear"
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.command: echo ran\n      changed_when: false\n")
    ran = subprocess.run([environment["CHPC_ANSIBLE_PLAYBOOK"], "-i", "localhost,", "-e",
                          f"ansible_python_interpreter={environment['CHPC_PYTHON']}", str(playbook)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, **environment})
    # an unknown strategy stops the play before any task ("Invalid play strategy specified")
    assert ran.returncode == 0 and "ok=1" in ran.stdout, ran.stdout + ran.stderr
    # and it is a strategy not Ansible's own, which ansible-core 2.19 warns of
    assert "Use of strategy plugins not included in ansible.builtin" in ran.stderr, ran.stderr
