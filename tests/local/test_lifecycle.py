"""Up and destroy: nothing is left behind, retained volumes survive, a failed up rolls back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from remote.pool import Pool
from remote.run import run
from spec.outputs import Outputs
from tests.local.harness import ROOT, invoke, journal_inits, leftovers, pid_namespaces, run_name, write_spec

pytestmark = pytest.mark.local_cluster

KEEP, FAIL, KILLED, BOOTFAIL = (run_name(prefix) for prefix in ("keeptest", "failtest", "killtest", "bootfail"))


def test_retained_volume_survives_destroy_and_nothing_else_remains(state_dir: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "keep.yaml", KEEP, compute=1, retain=True)
    assert invoke(state_dir, "up", "--spec", str(spec)).returncode == 0
    try:
        outputs = Outputs.load(state_dir / KEEP / "outputs.json")
        with Pool(outputs) as pool:  # no `invoke mount`: the node mounted its volume at boot
            assert scratch_source(pool) == volume_of(outputs)
            run(pool.client("compute-0"), "echo kept > /scratch/result.txt && sync", node="compute-0", step="write")
        again = invoke(state_dir, "up", "--spec", str(spec))  # up is idempotent: nothing rebuilt
        assert again.returncode == 0 and "already up" in again.stdout
        bigger = invoke(state_dir, "up", "--spec", str(write_spec(tmp_path / "big.yaml", KEEP, compute=2, retain=True)))
        assert bigger.returncode == 1
        assert "is up with a different spec (partitions[0].max: 1 -> 2; partitions[0].min: 1 -> 2)" in " ".join(
            bigger.stdout.split())
        namespaces = pid_namespaces(state_dir, KEEP)
    finally:
        gone = invoke(state_dir, "destroy", "--name", KEEP)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "kept retained volumes: scratch" in gone.stdout
    assert leftovers(state_dir, KEEP, namespaces) == []
    kept = sorted(p.name for p in (state_dir / KEEP / "volumes").iterdir())
    assert kept == ["compute-0-scratch.img", "head-scratch.img"]

    assert invoke(state_dir, "up", "--spec", str(spec)).returncode == 0
    try:
        outputs = Outputs.load(state_dir / KEEP / "outputs.json")
        with Pool(outputs) as pool:  # mounted again at boot, its file system kept: the data is there
            assert scratch_source(pool) == volume_of(outputs)
            text = run(pool.client("compute-0"), ["cat", "/scratch/result.txt"], node="compute-0", step="read").stdout
        assert text == "kept\n"
        mounted = invoke(state_dir, "mount", "--name", KEEP)
        assert mounted.returncode == 0 and "formatted" not in mounted.stdout, mounted.stdout
        assert "compute-0 /scratch: " in mounted.stdout and mounted.stdout.count("already mounted") == 4
    finally:
        invoke(state_dir, "destroy", "--name", KEEP)
    (state_dir / KEEP / "volumes" / "compute-0-scratch.img").unlink()
    (state_dir / KEEP / "volumes" / "head-scratch.img").unlink()


def scratch_source(pool: Pool) -> str:
    """What compute-0 has mounted on /scratch (empty: nothing, and a write would land on this machine's folder)."""
    return run(pool.client("compute-0"), "findmnt -rn -o SOURCE --mountpoint /scratch || true", node="compute-0",
               step="findmnt").stdout.strip()


def volume_of(outputs: Outputs) -> str:
    [device] = [v.device for v in outputs.volumes if v.node == "compute-0"]
    assert device is not None
    return device


def test_failed_up_rolls_back_everything(state_dir: Path, tmp_path: Path) -> None:
    # 64 TiB backing files cannot exist on ext4: up fails after the nodes and their daemons started.
    spec = write_spec(tmp_path / "huge.yaml", FAIL, compute=1, size_gb=65536)
    result = invoke(state_dir, "up", "--spec", str(spec))
    assert result.returncode == 1
    assert "cannot make a 65536 GB backing file" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "rolling back" in result.stdout
    assert leftovers(state_dir, FAIL, set()) == []
    assert not (state_dir / FAIL).exists()


def test_a_failed_boot_rolls_back_and_names_node_step_and_kept_log(state_dir: Path, tmp_path: Path) -> None:
    # the storage role cannot make a mount point under a file: every node's boot fails in the roles
    blocker = state_dir / f"{BOOTFAIL}-a-file"
    blocker.write_text("not a folder\n")
    spec = tmp_path / "bootfail.json"
    spec.write_text(json.dumps({"name": BOOTFAIL, "target": "local", "compute": {"count": 1}, "storage": {
        "volumes": [{"name": "scratch", "size_gb": 1, "mount": f"{blocker}/scratch"}]}}))
    result = invoke(state_dir, "up", "--spec", str(spec))
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    found = re.search(r"boot of (head|compute-0) failed at 'configuring this node': (.+); full log: (\S+)", said)
    assert found, said
    node, detail, kept = found.group(1), found.group(2), Path(found.group(3))
    assert kept == state_dir / "failed" / f"{BOOTFAIL}-{node}-boot.log"
    assert "Not a directory" in detail and "Not a directory" in kept.read_text()
    assert "rolling back" in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert leftovers(state_dir, BOOTFAIL, set()) == []
    assert not (state_dir / BOOTFAIL).exists()


def test_bad_spec_is_one_line_and_exit_2(state_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("target: local\ncompute: {count: 2, networking: warp}\n")
    result = invoke(state_dir, "up", "--spec", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "spec error: compute.networking = 'warp': allowed: none, enhanced, rdma "
        "(aliases: ena, efa, accelerated, infiniband)"]
    assert result.stdout == ""


def test_an_up_killed_half_way_is_destroyed_by_name(state_dir: Path, tmp_path: Path) -> None:
    """The process dies with the nodes running (Ctrl-C twice, a closed laptop): destroy still finds everything."""
    spec = write_spec(tmp_path / "killed.yaml", KILLED, compute=1)
    env = {**os.environ, "CHPC_STATE_DIR": str(state_dir), "COLUMNS": "200"}
    argv = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks", "up", "--spec", str(spec)]
    up = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    journal = state_dir / KILLED / "journal.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(journal_inits(journal)) < 2:
        time.sleep(0.1)
    os.killpg(up.pid, signal.SIGKILL)
    up.wait()
    namespaces = {os.readlink(f"/proc/{pid}/ns/pid") for pid in journal_inits(journal).values()}
    assert len(namespaces) == 2 and not (state_dir / KILLED / "outputs.json").exists()
    (state_dir / KILLED / "outputs.json").write_text("{")  # and a contract cut short: it must not block destroy
    gone = invoke(state_dir, "destroy", "--name", KILLED)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert f"destroyed {KILLED}" in gone.stdout
    assert leftovers(state_dir, KILLED, namespaces) == [] and not (state_dir / KILLED).exists()
    again = invoke(state_dir, "destroy", "--name", KILLED)
    assert again.returncode == 1 and f"no environment named '{KILLED}' is known here" in again.stdout

