"""What the roles run with inside a local node: Mitogen's strategy, unpinned, which Ansible loads from the
environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from targets.local import boot

# what a task's command sees: the CPUs it may run on, and its parent (the interpreter that ran the module)
SEEN = "import os; print(len(os.sched_getaffinity(0))); print(open(f'/proc/{os.getppid()}/cmdline').read())"


def test_a_local_nodes_playbook_runs_its_tasks_through_mitogen_on_every_cpu(tmp_path: Path) -> None:
    environment = boot.environment()
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
                        f"    - ansible.builtin.command: python3 -c \"{SEEN}\"\n      changed_when: false\n"
                        "      register: seen\n"
                        "    - ansible.builtin.copy: {content: '{{ seen.stdout }}', dest: "
                        f"{tmp_path}/seen" + "}\n")
    ran = subprocess.run([environment["CHPC_ANSIBLE_PLAYBOOK"], "-i", "localhost,", "-e",
                          f"ansible_python_interpreter={environment['CHPC_PYTHON']}", str(playbook)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, **environment})
    # an unknown strategy stops the play before any task ("Invalid play strategy specified")
    assert ran.returncode == 0 and "ok=2" in ran.stdout, ran.stdout + ran.stderr
    cpus, parent = (tmp_path / "seen").read_text().split("\n", 1)
    assert "(mitogen:" in parent  # the module ran in Mitogen's resident interpreter, not a Python of its own
    # every CPU this test may use: Mitogen's own strategy pins a module's processes to one CPU of two
    assert int(cpus) == len(os.sched_getaffinity(0))
