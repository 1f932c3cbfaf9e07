"""wait_for_boot against real sshds playing booting nodes (tests/remote/sshd.py): each has its own
/var/log/cloud-hpc-toolkit, where the test writes the boot status as the boot script would, and its own
authorized_keys, empty until its "boot" installs the user's key."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from remote.errors import HostKeyMismatch
from remote.pool import Pool
from remote.readiness import BootFailed, BootProgress, BootTimeout, wait_for_boot
from spec.boot_status import BOOT_LOG
from tests.remote.sshd import Keys, Sshd, keygen, node_for, outputs_for

NAMES = ["head", "compute-0", "compute-1"]
CONFIGURING = "configuring this node"


@dataclass
class BootingNode:
    sshd: Sshd
    status_dir: Path
    key_line: str

    def install_key(self) -> None:
        """What the boot's user step does: the user's key is authorized from now on."""
        self.sshd.authorized_keys.write_text(self.key_line + "\n")

    def report(self, state: str, step: str) -> None:
        """What the boot script's status writer does: rename a whole file over the old one."""
        tmp = self.status_dir / "boot-status.json.tmp"
        tmp.write_text(json.dumps({"state": state, "step": step, "log": BOOT_LOG}) + "\n")
        tmp.replace(self.status_dir / "boot-status.json")

    def reset(self) -> None:
        """A node just started: no key yet, no status yet."""
        self.sshd.authorized_keys.write_text("")
        (self.status_dir / "boot-status.json").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def booting(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[dict[str, BootingNode]]:
    nodes = {}
    for name in NAMES:
        work = tmp_path_factory.mktemp(f"booting-{name}")
        (work / "status").mkdir()
        sshd = Sshd(name, work / "sshd", work / "authorized_keys", status_dir=work / "status")
        nodes[name] = BootingNode(sshd, work / "status", keys.authorized_keys.read_text().splitlines()[0])
        nodes[name].reset()
        sshd.start()
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.sshd.stop()


@pytest.fixture
def pool(booting: dict[str, BootingNode], keys: Keys) -> Iterator[Pool]:
    for node in booting.values():
        node.reset()
    head, *computes = (booting[name].sshd for name in NAMES)
    outputs = outputs_for(head, computes, keys.ed25519)
    with Pool(outputs, ports={n.sshd.name: n.sshd.port for n in booting.values()}, retry_auth=True) as the_pool:
        yield the_pool


def test_a_node_slow_to_boot_is_waited_for(booting: dict[str, BootingNode], pool: Pool) -> None:
    """compute-0 refuses the key at first (its user does not exist yet), then boots, then finishes with compute-1;
    each step happens when the wait has reported the one before, so the test does not depend on how fast it runs."""
    head, slow, steady = (booting[name] for name in NAMES)
    head.install_key()
    head.report("done", "finished")
    steady.install_key()
    steady.report("running", CONFIGURING)
    seen: list[BootProgress] = []

    def progress(news: BootProgress) -> None:
        seen.append(news)
        line = news.line()
        if "compute-0 not reachable yet (" in line and "refused the key" in line:
            slow.install_key()
            slow.report("running", "starting")
        elif "compute-0 at 'starting'" in line:
            slow.report("done", "finished")
            steady.report("done", "finished")

    wait_for_boot(pool, NAMES, timeout=120, on_progress=progress, poll=0.3)
    lines = [news.line() for news in seen]
    assert any(line.startswith("head done; 0/2 computes done; booting: compute-0 ") and
               f"compute-1 at '{CONFIGURING}'" in line for line in lines), lines
    assert any("compute-0 at 'starting'" in line for line in lines), lines
    assert lines[-1] == "head done; 2/2 computes done"
    assert "Failed publickey" in slow.sshd.log_text()  # refused logins were retried, not raised


def test_a_node_that_never_finishes_is_named_with_its_last_step(booting: dict[str, BootingNode], pool: Pool) -> None:
    head, silent, stuck = (booting[name] for name in NAMES)
    head.install_key()
    head.report("done", "finished")
    stuck.install_key()
    stuck.report("running", CONFIGURING)  # and no further; compute-0 never authorizes the user
    seen: list[BootProgress] = []
    started = time.monotonic()
    with pytest.raises(BootTimeout) as caught:
        wait_for_boot(pool, NAMES, timeout=4, on_progress=seen.append, poll=0.3)
    assert time.monotonic() - started >= 4
    # each node is read at most once per poll until the deadline, then no more: a bound by count, not by clock
    assert 1 <= len(seen) <= len(NAMES) * (4 / 0.3 + 1)
    err = caught.value
    assert [boot.name for boot in err.unfinished] == ["compute-0", "compute-1"]
    assert err.node == "compute-0, compute-1" and err.step == "wait for boot"
    assert "not done after 4 s" in err.detail and f"compute-1 at '{CONFIGURING}'" in err.detail
    assert "compute-0 not reachable yet (" in err.detail and "refused the key" in err.detail
    assert "head" not in err.node


def test_a_node_whose_boot_failed_is_named_with_its_step_and_log(booting: dict[str, BootingNode],
                                                                  pool: Pool) -> None:
    for node in booting.values():
        node.install_key()
    booting["head"].report("done", "finished")
    booting["compute-0"].report("running", CONFIGURING)
    booting["compute-1"].report("failed", "fetching the ansible bundle")
    seen: list[BootProgress] = []
    with pytest.raises(BootFailed) as caught:
        wait_for_boot(pool, NAMES, timeout=60, on_progress=seen.append, poll=0.3)
    # at once: the first read that finds it failed raises, so no progress report ever shows it failed
    assert all(news.nodes["compute-1"].status is None for news in seen)
    err = caught.value
    assert (err.node, err.failed_step, err.log) == ("compute-1", "fetching the ansible bundle", BOOT_LOG)
    assert str(err).startswith("[compute-1] boot failed: its boot script failed at 'fetching the ansible bundle'")
    assert BOOT_LOG in str(err)


def test_a_host_key_mismatch_is_never_retried(booting: dict[str, BootingNode], keys: Keys, tmp_path: Path) -> None:
    for node in booting.values():
        node.reset()
        node.install_key()
    head, *computes = (booting[name].sshd for name in NAMES)
    impostor = node_for(computes[1], host_key=keygen(tmp_path / "other_host_key"))
    outputs = outputs_for(head, computes, keys.ed25519).model_copy(update={"computes": [node_for(computes[0]),
                                                                                        impostor]})
    before = computes[1].log_text().count("Connection from")
    with Pool(outputs, ports={s.name: s.port for s in (head, *computes)}, retry_auth=True) as the_pool:
        with pytest.raises(HostKeyMismatch) as caught:
            wait_for_boot(the_pool, NAMES, timeout=60, poll=0.3)
    assert caught.value.node == "compute-1"
    assert computes[1].log_text().count("Connection from") - before == 1


def test_a_pool_that_would_not_retry_refused_logins_is_refused(booting: dict[str, BootingNode], keys: Keys) -> None:
    head, *computes = (booting[name].sshd for name in NAMES)
    with Pool(outputs_for(head, computes, keys.ed25519)) as plain:
        with pytest.raises(ValueError, match="retry_auth=True"):
            wait_for_boot(plain, NAMES, timeout=5)


def test_readiness_imports_neither_pulumi_nor_the_targets() -> None:
    """remote/ runs after up on every target: the boot status contract it reads is plain Python."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import remote.readiness; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pulumi', 'targets', 'stacks', 'components'}))")
    result = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parents[2])],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
