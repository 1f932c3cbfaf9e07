"""The boot script run for real on local-target nodes: it turns a node into a Slurm node (the head finding its
own address, a compute node registering itself as a dynamic node, a new munge key on both), it reports done, and
whichever step fails (the user, the bundle, the roles) the node ends "failed at <step>", which readiness reads
over SSH and the local target turns into one error naming the node, the step and the kept log."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from components.boot import script
from components.boot.config import BootConfig, BundleInPlace, MungeKeyFile, Role, S3Bundle, SshLogin, StaticNode
from remote.pool import Pool
from remote.readiness import BootFailed, BootProgress, wait_for_boot
from spec.boot_status import BOOT_LOG, STATUS_DIR, STATUS_FILE
from spec.environment import Environment
from spec.outputs import Outputs
from targets.local import boot, node
from targets.local.commands import LocalError
from targets.local.target import boot_tunables
from tests.local.harness import invoke, write_spec
from tests.root import need_root

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
NAME = f"boottest-{secrets.token_hex(3)}"  # unique per run: concurrent runs of this module must not share nodes

pytestmark = pytest.mark.local_cluster
need_root("the boot tests on a local node")


@dataclass
class LocalEnv:
    state: Path
    outputs: Outputs
    inits: dict[str, int]

    def node_dir(self, name: str) -> Path:
        return self.state / NAME / "nodes" / name

    def on_node(self, name: str, path: str) -> Path:
        """Where a file of the node's private /var/log, /tmp, ... is on this machine."""
        return node.private_path(self.node_dir(name), path)

    def status(self, name: str) -> dict[str, Any]:
        return json.loads(self.on_node(name, STATUS_FILE).read_text())


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnv]:
    """1 head + 1 compute node brought up by `invoke up --spec` (static Slurm nodes), always destroyed."""
    state = Path(tempfile.mkdtemp(prefix="chpc-boottest-", dir="/var/tmp"))
    spec = write_spec(tmp_path_factory.mktemp("spec") / "boottest.json", NAME, compute=1)
    result = invoke(state, "up", "--spec", str(spec))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        inits = json.loads((state / NAME / "journal.json").read_text())["inits"]
        yield LocalEnv(state, Outputs.load(state / NAME / "outputs.json"), inits)
    finally:
        invoke(state, "destroy", "--name", NAME)
        shutil.rmtree(state, ignore_errors=True)


def config(role: Role, **changes: Any) -> BootConfig:
    """A node's boot as the local target renders it (cloud-only steps off, the munge key its file), with
    ``changes``."""
    env = Environment.model_validate({"name": NAME, "target": "local", "compute": {"count": 1}})
    values: dict[str, Any] = {
        "role": role, "cluster_name": NAME, "head_name": "head",
        "munge_key": MungeKeyFile("/nonexistent/munge.key"),  # never read: a boot that gets so far is given one
        "bundle": BundleInPlace(str(ANSIBLE)),
        "cloud_instance": False, "service_manager": "direct", "install_packages": False,
        "tunables": boot_tunables(env)}
    return BootConfig(**{**values, **changes})


def boot_in_place(env: LocalEnv, name: str, boot_config: BootConfig, path: str) -> int:
    """Run the script inside the node as cloud-init would (root, sh), with ``path`` as PATH; its exit code."""
    (env.on_node(name, "/tmp") / "chpc-boot.sh").write_text(script.boot_script(boot_config))
    return node.run(env.inits[name], ["sh", "/tmp/chpc-boot.sh"], f"boot script on {name}", check=False,
                    timeout=600, env={"PATH": path}).returncode


def in_node(env: LocalEnv, name: str, command: str, step: str) -> str:
    return node.run(env.inits[name], ["sh", "-c", command], step, timeout=60).stdout


def stop(env: LocalEnv, name: str, daemons: str, pid_files: str) -> None:
    """End daemons inside the node (its own PID namespace: pkill reaches only them) and their pid files."""
    names = daemons.replace(" ", "|")
    in_node(env, name, f"for d in {daemons}; do pkill -x $d || true; done; "
                       f"for i in $(seq 100); do pgrep -x '{names}' >/dev/null || break; sleep 0.1; done; "
                       f"! pgrep -x '{names}' && rm -f {pid_files}", f"stop {daemons}")


def failed_at(env: LocalEnv, name: str) -> BootFailed:
    """What readiness says of the node, over SSH."""
    with Pool(env.outputs, retry_auth=True) as pool, pytest.raises(BootFailed) as caught:
        wait_for_boot(pool, [name], timeout=30, poll=0.2)
    return caught.value


def test_a_failing_user_step_ends_failed_at_that_step(local_env: LocalEnv) -> None:
    user = f"chpc{secrets.token_hex(3)}"  # no such user: the script must create it, and cannot (no useradd on PATH)
    code = boot_in_place(local_env, "compute-0", config("compute", head_address=local_env.outputs.head.address,
                                                        login=SshLogin(user, "ssh-ed25519 AAAAC3Nza test")),
                         path="/usr/bin:/bin")
    assert code != 0
    assert local_env.status("compute-0") == {"state": "failed", "step": script.AUTHORIZING, "log": BOOT_LOG}
    err = failed_at(local_env, "compute-0")
    assert (err.node, err.failed_step, err.log) == ("compute-0", script.AUTHORIZING, BOOT_LOG)
    assert f"failed at '{script.AUTHORIZING}'" in local_env.on_node("compute-0", BOOT_LOG).read_text()
    assert shutil.which("getent") is None or os.system(f"getent passwd {user} >/dev/null") != 0


def test_a_failing_bundle_fetch_ends_failed_at_that_step(local_env: LocalEnv) -> None:
    fake = local_env.state / "fake-bin"  # a python3 whose download (node_secrets.py) writes something not a zip
    fake.mkdir(exist_ok=True)
    (fake / "python3").write_text(f'#!/bin/sh\n[ "$1" = {script.NODE_SECRETS} ] || exec /usr/bin/python3 "$@"\n'
                                  'while [ "$1" != --out ]; do shift; done; echo "not a zip" > "$2"\n')
    (fake / "python3").chmod(0o755)
    unpacked = local_env.state / "unpacked"
    code = boot_in_place(local_env, "compute-0", config(
        "compute", head_address=local_env.outputs.head.address,
        bundle=S3Bundle("hpc-bundle", "bundles/ansible-0.zip", "us-east-1", into=str(unpacked))),
        path=f"{fake}:/usr/bin:/bin")
    assert code != 0
    assert local_env.status("compute-0")["state"] == "failed"
    assert failed_at(local_env, "compute-0").failed_step == script.FETCHING
    staged = in_node(local_env, "compute-0", "ls /run/cloud-hpc-toolkit", "staged files").split()
    assert "munge.key" not in staged and "bundle.zip" not in staged  # the exit trap removes them, whatever failed


def test_a_failing_role_run_ends_failed_and_the_local_target_names_step_and_kept_log(
        local_env: LocalEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = local_env.state / "broken-ansible"
    shutil.copytree(ANSIBLE, broken, dirs_exist_ok=True)
    (broken / "site.yml").write_text("- hosts: localhost\n  tasks: [this is not a task\n")
    # started as the local target starts every node's boot: in the background, inside the node
    boot.start(local_env.inits["compute-0"], local_env.node_dir("compute-0"),
               config("compute", head_address=local_env.outputs.head.address, bundle=BundleInPlace(str(broken))))
    monkeypatch.setenv("CHPC_STATE_DIR", str(local_env.state))
    with pytest.raises(LocalError) as caught:
        boot.wait(local_env.outputs, [n.name for n in local_env.outputs.nodes()], local_env.state / NAME / "nodes",
                  Console(quiet=True))
    kept = local_env.state / "failed" / f"{NAME}-compute-0-boot.log"
    message = str(caught.value)
    assert message.startswith(f"boot of compute-0 failed at '{script.CONFIGURING}': [ERROR]: YAML parsing failed")
    assert message.endswith(f"full log: {kept}")
    assert f"{broken}/site.yml" in kept.read_text()  # the whole log, kept out of the node's private /var/log
    assert local_env.status("compute-0")["step"] == script.CONFIGURING


def test_the_script_turns_a_local_node_into_a_slurm_node_and_says_done(local_env: LocalEnv) -> None:
    munge = secrets.token_bytes(1024)  # a new key for both nodes: a wrong copy would break authentication
    new_key = local_env.state / "new-munge.key"  # every node sees this machine's files outside its private ones
    new_key.write_bytes(munge)
    new_key.chmod(0o600)
    key = MungeKeyFile(str(new_key))

    # The head again, finding its own address, with the new key and one compute node declared; started and waited
    # for as the local target does, its progress read over SSH.
    address = next(n.address for n in local_env.outputs.nodes() if n.name == "compute-0")
    nodes = (StaticNode("compute-0", address),)
    stop(local_env, "head", "slurmctld munged", "/run/slurmctld.pid /run/munge/munged.pid")
    in_node(local_env, "head", "rm -rf /var/lib/slurm/slurmctld/*", "clear slurmctld state")
    boot.start(local_env.inits["head"], local_env.node_dir("head"), config("head", munge_key=key, compute_nodes=nodes))
    seen: list[BootProgress] = []
    with Pool(local_env.outputs, retry_auth=True) as pool:
        wait_for_boot(pool, ["head"], timeout=300, on_progress=seen.append, poll=0.2)
    assert any(f"head at '{script.CONFIGURING}'" in progress.line() for progress in seen), seen
    assert seen[-1].line() == "head done"
    head_vars = json.loads(in_node(local_env, "head", f"cat {script.BOOT_VARS}", "read vars"))
    assert head_vars["head_address"] == local_env.outputs.head.address
    assert head_vars["compute_nodes"] == [{"name": "compute-0", "address": address}]
    assert f"NodeName=compute-0 NodeAddr={address} " in in_node(local_env, "head", "cat /etc/slurm/slurm.conf",
                                                               "read slurm.conf")

    # The compute node, told the head's address, registering; run in place this time.
    stop(local_env, "compute-0", "slurmd munged", "/run/slurmd.pid /run/munge/munged.pid")
    code = boot_in_place(local_env, "compute-0",
                         config("compute", munge_key=key, head_address=local_env.outputs.head.address,
                                compute_nodes=nodes),
                         path=f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin")
    log = local_env.on_node("compute-0", BOOT_LOG)
    assert code == 0, log.read_text()[-3000:]
    assert local_env.status("compute-0") == {"state": "done", "step": script.FINISHED, "log": BOOT_LOG}
    # the SSH user (not root on a cloud) reads the status; the log, which names the key's staging, only root
    assert stat.S_IMODE(local_env.on_node("compute-0", STATUS_FILE).stat().st_mode) == 0o644
    assert stat.S_IMODE(local_env.on_node("compute-0", STATUS_DIR).stat().st_mode) == 0o755
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.stat().st_uid == 0
    assert "done: compute node compute-0" in log.read_text()
    assert local_env.on_node("compute-0", "/etc/munge/munge.key").read_bytes() == munge
    # the variables on the node's disk, root's alone (a restart, which empties /run, keeps them), in its private
    # root: the host's folder of that name is not where they are
    kept = in_node(local_env, "compute-0", f"stat -c '%a %U' {script.KEPT} {script.BOOT_VARS}; ls -A {script.STAGE}",
                   "kept files").split()
    assert kept == ["700", "root", "600", "root"]  # nothing left on tmpfs: the key file was not staged
    assert local_env.on_node("compute-0", script.BOOT_VARS).is_file()
    assert not Path(script.BOOT_VARS).exists()
    compute_vars = json.loads(local_env.on_node("compute-0", script.BOOT_VARS).read_text())
    assert (compute_vars["node_name"], compute_vars["head_address"], compute_vars["compute_nodes"]) == (
        "compute-0", local_env.outputs.head.address, [{"name": "compute-0", "address": address}])

    deadline, states = time.monotonic() + 90, ""
    while time.monotonic() < deadline:
        states = node.run(local_env.inits["head"], ["sinfo", "-h", "-N", "-o", "%N %t"], "sinfo",
                          check=False).stdout.strip()
        if states == "compute-0 idle":
            break
        time.sleep(0.5)
    assert states == "compute-0 idle"
    job = node.run(local_env.inits["head"], ["srun", "-N1", "-t", "1", "hostname"], "srun on the node",
                   timeout=120)
    assert job.stdout.strip() == "compute-0"
