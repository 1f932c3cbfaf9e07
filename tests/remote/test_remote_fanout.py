"""fan_out: nodes run in parallel, every failure is reported, progress only on a terminal."""

from __future__ import annotations

import io
import re

import paramiko
import pytest
from rich.console import Console

from remote.errors import RemoteError
from remote.fanout import fan_out
from remote.pool import Pool
from remote.run import run
from tests.remote.sshd import Cluster

NAMES = ["compute-0", "compute-1", "compute-2", "compute-3"]


def test_runs_in_parallel(pool: Pool, tmp_path) -> None:
    """Each node's command waits until every node's has started: run one after another, the first would wait out
    its 30 s and fail, so the result says whether they ran together (no clock read)."""
    arrived = tmp_path / "arrived"
    arrived.mkdir()

    def meet(client: paramiko.SSHClient, name: str) -> str:
        return run(client, f"touch {arrived}/{name}; for i in $(seq 300); do "
                           f"[ $(ls {arrived} | wc -l) -ge {len(NAMES)} ] && break; sleep 0.1; done; "
                           f"[ $(ls {arrived} | wc -l) -ge {len(NAMES)} ] && echo $SSH_CONNECTION",
                   node=name, step="meet", timeout=60).stdout

    results = fan_out(pool, NAMES, meet, step="meet")
    assert list(results) == NAMES and all(r.startswith("127.0.0.1 ") for r in results.values())


def test_aggregates_every_failure(pool: Pool) -> None:
    def flaky(client: paramiko.SSHClient, name: str) -> str:
        if name in ("compute-1", "compute-3"):
            run(client, f"echo 'disk full on {name}' >&2; exit 1", node=name, step="install")
        if name == "compute-2":
            raise ValueError("bad input")
        return "ok"

    with pytest.raises(RemoteError) as caught:
        fan_out(pool, NAMES, flaky, step="install")
    err = caught.value
    message = str(err)
    assert err.step == "install" and "3 of 4 nodes failed" in message
    for name in ("compute-1", "compute-2", "compute-3"):
        assert name in err.node and name in message
    assert "disk full on compute-1" in message and "disk full on compute-3" in message
    assert "ValueError: bad input" in message
    assert "compute-0" not in err.node
    assert set(err.failures) == {"compute-1", "compute-2", "compute-3"} and err.results == {"compute-0": "ok"}


def test_one_node_failing_is_its_own_error_with_its_remedy(pool: Pool) -> None:
    def install(client: paramiko.SSHClient, name: str) -> str:
        if name == "compute-2":
            run(client, "echo 'disk full' >&2; exit 1", node=name, step="install")
        return "ok"

    with pytest.raises(RemoteError) as caught:
        fan_out(pool, NAMES, install, step="install")
    err = caught.value
    assert (err.node, err.step) == ("compute-2", "install") and "disk full" in err.detail
    assert "of 4 nodes failed" not in str(err) and "fix the failures above" not in str(err)
    assert set(err.failures) == {"compute-2"} and set(err.results) == {"compute-0", "compute-1", "compute-3"}


def test_unreachable_node_is_one_of_the_failures(cluster: Cluster) -> None:
    ports = {**cluster.ports, "compute-2": 1}  # nothing listens there: the head cannot forward to it
    with Pool(cluster.outputs, ports=ports, deadline=1.0) as pool:
        with pytest.raises(RemoteError) as caught:
            fan_out(pool, NAMES, lambda client, name: name, step="probe")
    assert caught.value.node == "compute-2"
    assert set(caught.value.results) == {"compute-0", "compute-1", "compute-3"}
    assert "via head" in str(caught.value)


def test_progress_live_on_a_terminal_and_a_stamped_line_per_change_in_a_log(pool: Pool) -> None:
    log = io.StringIO()
    fan_out(pool, NAMES[:2], lambda client, name: name, step="quiet", console=Console(file=log))
    lines = log.getvalue().splitlines()
    assert sorted(line.split(" ", 1)[1].split(" in ")[0] for line in lines) == [
        "quiet compute-0: done", "quiet compute-0: running", "quiet compute-1: done", "quiet compute-1: running"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ .*", line) for line in lines)
    shown = io.StringIO()
    console = Console(file=shown, force_terminal=True, width=60)
    fan_out(pool, NAMES[:2], lambda client, name: name, step="loud", console=console)
    text = shown.getvalue()
    assert "compute-0" in text and "compute-1" in text and "done" in text


def test_empty_list(pool: Pool) -> None:
    assert fan_out(pool, [], lambda client, name: name, step="nothing") == {}
