"""The slurm role's power files on a head that rebooted: the boot staged them on tmpfs, which a reboot empties, and a
later run of the role (`invoke scale` renders it again) keeps the copies the boot made instead of failing on the
missing source; a file neither staged nor copied still fails, naming it. Run for real: the role's power tasks in a
mount namespace of their own whose /var/lib/slurm is a fresh tmpfs (where they write the programs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROLE = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "slurm"
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.local_cluster


def test_a_rebooted_heads_power_files_stay_and_a_missing_one_is_named(tmp_path: Path) -> None:
    staged, kept = tmp_path / "run", tmp_path / "etc"
    staged.mkdir()
    kept.mkdir()
    (staged / "power.json").write_text('{"partitions": {}}\n')
    files = [{"src": str(staged / "power.json"), "dest": str(kept / "power.json")}]
    play = tmp_path / "power.yml"
    (tmp_path / "templates").symlink_to(ROLE / "templates")  # where a play's own templates are looked for
    play.write_text(json.dumps([{  # the role's power tasks alone, with its defaults (not its munge dependency)
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml")], "tasks": [{
            "name": "The head's power programs", "ansible.builtin.include_tasks": str(ROLE / "tasks" / "power.yml"),
            "vars": {"slurm_power_files": files, "slurm_resume_command": "/bin/true",
                     "slurm_suspend_command": "/bin/true"}}]}]))
    run = f"{PLAYBOOK} -i localhost, -e ansible_python_interpreter={sys.executable} {play}"
    script = f"""mount -t tmpfs tmpfs /var/lib/slurm || exit 90
{run} > {tmp_path}/boot.log 2>&1 || exit 91
rm {staged}/power.json  # the reboot: tmpfs is empty again
{run} > {tmp_path}/again.log 2>&1 || exit 92
rm {kept}/power.json
{run} > {tmp_path}/lost.log 2>&1 && exit 93
exit 0
"""
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("boot", "again", "lost")
            if (tmp_path / f"{name}.log").exists()}
    assert done.returncode == 0, (done.returncode, done.stderr, logs)
    assert "failed=0" in logs["again"] and "skipping: [localhost] => (item=" in logs["again"]
    # the copy the boot made is gone with the last step: the role names the file it cannot make
    assert "failed=1" in logs["lost"] and f"{staged}/power.json" in logs["lost"]
