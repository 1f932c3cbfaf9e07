"""The cloud-init boot script: valid sh for every role and step set, the variables site.yml documents,
and, for real, the same script turning a local-target node into a working Slurm node (cloud steps off)."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from components.aws.cloud_init import OWN_VARS, BootSteps, boot_script
from spec.outputs import Outputs
from targets.local import node
from tests.local.harness import invoke, write_spec

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
NAME = f"boottest-{secrets.token_hex(3)}"  # unique per run: concurrent runs of this module must not share nodes
MUNGE = base64.b64encode(b"k" * 1024).decode()
HOST_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
HOST_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6"
USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKey user@laptop"
OFF = BootSteps(restrict_imds=False, authorize_user=False, install_host_key=False, restart_sshd=False,
                set_hostname=False, fetch_bundle=False)
# What the local target hands its nodes beyond the defaults (targets/local/target.py): no cgroups in the namespaces.
LOCAL_TUNABLES = {"slurm_config_overrides": True, "slurm_proctrack": "proctrack/linuxproc",
                  "slurm_task_plugin": "task/none", "slurm_cgroup_plugin": "cgroup/v1",
                  "slurm_cgroup_automount": False, "mount_points": []}


def render(role: str = "compute", steps: BootSteps = BootSteps(), **overrides: Any) -> str:
    values: dict[str, Any] = {
        "role": role, "cluster_name": "hpc", "bucket": "hpc-bundle-1234", "key": "bundles/ansible-0123.zip",
        "region": "us-east-1", "head_name": "hpc-head", "head_address_hint": "10.0.1.10" if role == "compute" else None,
        "munge_key_b64": MUNGE, "host_private_key": HOST_KEY, "host_public_key": HOST_PUB, "ssh_user": "ec2-user",
        "ssh_authorized_key": USER_KEY, "steps": steps}
    return boot_script(**{**values, **overrides})


def vars_of(script: str) -> dict[str, Any]:
    """The variables file the script writes (placeholders are filled at boot)."""
    body = re.search(r"<<'CHPC_VARS_EOF'\n(.*?)\nCHPC_VARS_EOF\n", script, re.S)
    assert body, "no variables heredoc"
    return json.loads(body.group(1))


@pytest.mark.parametrize(("role", "steps"), [(role, BootSteps(*flags)) for role, flags in
                                             product(("head", "compute"), [(True,) * 6, (False,) * 6])])
def test_rendered_script_is_valid_sh(role: str, steps: BootSteps) -> None:
    script = render(role, steps)
    result = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert script.startswith("#!/bin/sh\n")


def test_variables_are_the_ones_site_yml_documents() -> None:
    header = "".join(line for line in (ANSIBLE / "site.yml").read_text().splitlines(True) if line.startswith("#"))
    documented = set(re.findall(r"[a-z_]+", header))
    variables = vars_of(render("compute"))
    assert set(variables) == set(OWN_VARS) <= documented
    assert variables["compute_nodes"] == []  # compute nodes register themselves (Slurm dynamic nodes)
    assert variables["service_manager"] == "systemd" and variables["install_packages"] is True
    assert variables["munge_key_src"].startswith("/run/cloud-hpc-toolkit/")
    assert (variables["node_name"], variables["head_address"]) == ("@NODE_NAME@", "@HEAD_ADDRESS@")


def test_cloud_steps_appear_only_when_asked() -> None:
    cloud, local = render("head"), render("head", OFF, bundle_dir="/src/ansible")
    for text in ("aws s3 cp", "/etc/ssh/ssh_host_ed25519_key", "systemctl restart sshd", "hostnamectl",
                 "169.254.169.254", "authorized_keys", HOST_KEY.splitlines()[1]):
        assert text in cloud and text not in local
    assert "sh /src/ansible/boot.sh /run/cloud-hpc-toolkit/boot-vars.json" in local
    assert "python3 -m zipfile -e /run/cloud-hpc-toolkit/bundle.zip /opt/cloud-hpc-toolkit/ansible" in cloud


@pytest.mark.parametrize(("overrides", "message"), [
    ({"role": "login"}, "role 'login'"),
    ({"head_address_hint": None}, "head_address_hint is required"),
    ({"bucket": ""}, "fetch_bundle needs"),
    ({"host_private_key": ""}, "install_host_key needs"),
    ({"munge_key_b64": ""}, "munge_key_b64 is empty"),
    ({"head_name": "head; rm -rf /"}, "head_name"),
    ({"extra_vars": {"compute_nodes": [{"name": "x", "address": "10.0.0.1"}]}}, "may not set compute_nodes"),
])
def test_incoherent_requests_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render(**overrides)


# --- the script run for real inside a local-target node -----------------------------------------------

local_only = pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0,
                                reason="the local target needs Linux and root (CI runs these as root)")


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Outputs]]:
    """1 head + 1 compute node brought up by `invoke up --spec` (static Slurm nodes), always destroyed."""
    state = Path(tempfile.mkdtemp(prefix="chpc-boottest-", dir="/var/tmp"))
    spec = write_spec(tmp_path_factory.mktemp("spec") / "boottest.json", NAME, compute=1)
    result = invoke(state, "up", "--spec", str(spec))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield state, Outputs.load(state / NAME / "outputs.json")
    finally:
        invoke(state, "destroy", "--name", NAME)
        if not (state / "failed").exists():  # a failed up keeps its boot logs there, named in the message
            shutil.rmtree(state, ignore_errors=True)


def in_node(pid: int, command: str, step: str, timeout: float = 60) -> str:
    return node.run(pid, ["sh", "-c", command], step, timeout=timeout).stdout


def run_boot(state: Path, pid: int, name: str, script: str) -> None:
    """Write the script into the node's /tmp and run it there as cloud-init would (as root, with sh)."""
    (node.private_path(state / NAME / "nodes" / name, "/tmp") / "chpc-boot.sh").write_text(script)
    playbook = Path(sys.executable).with_name("ansible-playbook")
    result = node.run(pid, ["sh", "/tmp/chpc-boot.sh"], f"boot script on {name}", check=False, timeout=600,
                      env={"CHPC_PYTHON": sys.executable, "CHPC_ANSIBLE_PLAYBOOK": str(playbook),
                           "PATH": f"{playbook.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
    assert result.returncode == 0, f"{name}:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    assert f"cloud-hpc-toolkit boot: done: {'head' if name == 'head' else 'compute'} node {name}" in result.stdout


def stop(pid: int, daemons: str, pid_files: str) -> None:
    """End daemons inside the node (its own PID namespace: pkill reaches only them) and their pid files."""
    names = daemons.replace(" ", "|")
    in_node(pid, f"for d in {daemons}; do pkill -x $d || true; done; "
                 f"for i in $(seq 100); do pgrep -x '{names}' >/dev/null || break; sleep 0.1; done; "
                 f"! pgrep -x '{names}' && rm -f {pid_files}", f"stop {daemons}")


@local_only
@pytest.mark.local_cluster
def test_boot_script_turns_a_local_node_into_a_slurm_node(local_env: tuple[Path, Outputs]) -> None:
    state, outputs = local_env
    inits = json.loads((state / NAME / "journal.json").read_text())["inits"]
    head, compute = inits["head"], inits["compute-0"]
    munge = secrets.token_bytes(1024)  # a new key for both nodes: a wrong copy would break authentication
    common: dict[str, Any] = {
        "cluster_name": NAME, "bucket": "", "key": "", "region": "", "head_name": "head",
        "munge_key_b64": base64.b64encode(munge).decode(), "host_private_key": "", "host_public_key": "",
        "ssh_user": "root", "ssh_authorized_key": "", "steps": OFF, "bundle_dir": str(ANSIBLE),
        "service_manager": "direct", "install_packages": False, "extra_vars": LOCAL_TUNABLES}

    # The head again, now for dynamic nodes, finding its own address (no hint), with the new munge key.
    stop(head, "slurmctld munged", "/run/slurmctld.pid /run/munge/munged.pid")
    in_node(head, "rm -rf /var/lib/slurm/slurmctld/*", "clear slurmctld state")
    run_boot(state, head, "head", boot_script(role="head", head_address_hint=None, **common))
    head_vars = json.loads(in_node(head, "cat /run/cloud-hpc-toolkit/boot-vars.json", "read vars"))
    assert head_vars["head_address"] == outputs.cluster_head().address
    assert "MaxNodeCount=" in in_node(head, "cat /etc/slurm/slurm.conf", "read slurm.conf")

    # The compute node, told the head's address, registering itself.
    stop(compute, "slurmd munged", "/run/slurmd.pid /run/munge/munged.pid")
    run_boot(state, compute, "compute-0",
             boot_script(role="compute", head_address_hint=outputs.cluster_head().address, **common))
    compute_dir = state / NAME / "nodes" / "compute-0"
    assert node.private_path(compute_dir, "/etc/munge/munge.key").read_bytes() == munge
    staged = in_node(compute, "stat -c '%a' /run/cloud-hpc-toolkit/boot-vars.json; "
                              "ls /run/cloud-hpc-toolkit", "staged files").split()
    assert staged == ["600", "boot-vars.json"]  # the munge key is not left staged
    compute_vars = json.loads(in_node(compute, "cat /run/cloud-hpc-toolkit/boot-vars.json", "read vars"))
    assert (compute_vars["node_name"], compute_vars["head_address"], compute_vars["compute_nodes"]) == (
        "compute-0", outputs.cluster_head().address, [])
    assert " -Z" in in_node(compute, "ps -o args= -C slurmd", "slurmd command line")

    deadline, states = time.monotonic() + 90, ""
    while time.monotonic() < deadline:
        states = node.run(head, ["sinfo", "-h", "-N", "-o", "%N %t"], "sinfo", check=False).stdout.strip()
        if states == "compute-0 idle":
            break
        time.sleep(0.5)
    assert states == "compute-0 idle"
    assert "DYNAMIC" in in_node(head, "scontrol show node compute-0", "scontrol show node")
    job = node.run(head, ["srun", "-N1", "-t", "1", "hostname"], "srun on the dynamic node", timeout=120)
    assert job.stdout.strip() == "compute-0"
