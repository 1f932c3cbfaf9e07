"""Elastic partitions on a real local cluster: the nodes above a partition's ``min`` do not exist until a job
needs them, Slurm starts them through the head's power programs and the host's power agent, and stops them after
the idle time, leaving nothing of them; a node that cannot start is down with the reason and its job runs on others;
the agent takes only its own environment's elastic nodes, from root or slurm."""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from components.boot.script import BOOT_VARS, STAGE
from spec.outputs import Outputs
from targets.local import node
from targets.local.network import netns_name
from tests.local import harness
from tests.local.harness import invoke

pytestmark = pytest.mark.local_cluster

NAME = harness.run_name("elastic")
IDLE_MINUTES = 0.25  # 15 s
GONE_WITHIN = 180.0  # idle time, Slurm's SuspendTimeout (5 s here) and its power-save pass, on a loaded machine


# ResumeTimeout: a node that fails to start stays down# until it passes (Slurm 22.05), so the failed-start test
# waits it out; nodes here register within about 20 s of a resume, 60 s on a loaded machine.
RESUME_TIMEOUT_MINUTES = 1.5


def elastic_spec(path: Path, name: str, resume_timeout_minutes: float = RESUME_TIMEOUT_MINUTES) -> Path:
    path.write_text(json.dumps({
        "name": name, "target": "local",
        "partitions": [{"name": "cpu", "min": 0, "max": 3}, {"name": "big", "min": 1, "max": 2}],
        "scaling": {"idle_minutes": IDLE_MINUTES, "resume_timeout_minutes": resume_timeout_minutes},
        "storage": {"volumes": [{"name": "scratch", "size_gb": 1, "mount": "/scratch"}],
                    "shared": {"kind": "local", "mount": "/shared"}},
    }))
    return path


@pytest.fixture(scope="module")
def cluster(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outputs]:
    spec = elastic_spec(tmp_path_factory.mktemp("spec") / "elastic.json", NAME)
    with harness.environment(state_dir, spec, NAME) as outputs:
        yield outputs


def netns_exists(name: str, node_name: str) -> bool:
    return Path("/run/netns", netns_name(name, node_name)).exists()


def head_says(state_dir: Path, name: str, *argv: str) -> str:
    """A command's output on the head, run as Slurm's own tools are (inside the head's namespaces)."""
    head = json.loads((state_dir / name / "journal.json").read_text())["inits"]["head"]
    return node.run(head, list(argv), "ask the head").stdout


def slurm_states(state_dir: Path, name: str) -> dict[str, str]:
    return dict(line.split() for line in head_says(state_dir, name, "sinfo", "-h", "-N", "-o", "%N %t").splitlines())


def node_leftovers(state_dir: Path, name: str, nodes: list[str]) -> list[str]:
    """What is left on this machine of ``nodes``: namespaces, loop devices, node inits, volume files."""
    found = [f"netns {n}" for n in nodes if netns_exists(name, n)]
    loops = subprocess.run(["losetup", "-l", "-n", "-O", "BACK-FILE"], capture_output=True, text=True).stdout
    found += [f"loop {line.strip()}" for line in loops.splitlines()
              if any(f"/{name}/volumes/{n}-" in line for n in nodes)]
    found += [f"init of {n} {pid}" for n in nodes for pid in node.inits_under(state_dir / name / "nodes" / n)]
    found += [f"volume {image.name}" for n in nodes for image in (state_dir / name / "volumes").glob(f"{n}-*.img")]
    return found


def wait_until_gone(state_dir: Path, name: str, nodes: list[str]) -> None:
    """Until nothing of ``nodes`` is left on this machine and Slurm has them powered down again (its SuspendTimeout
    after the stop: only then may a job start them anew, so the next test starts from a cold partition)."""
    deadline = time.monotonic() + GONE_WITHIN
    while node_leftovers(state_dir, name, nodes) and time.monotonic() < deadline:
        time.sleep(1)
    assert node_leftovers(state_dir, name, nodes) == []
    while time.monotonic() < deadline and any(slurm_states(state_dir, name).get(n) != "idle~" for n in nodes):
        time.sleep(1)
    assert {n: slurm_states(state_dir, name).get(n) for n in nodes} == dict.fromkeys(nodes, "idle~")


def test_after_up_only_the_always_on_nodes_exist_and_slurm_shows_the_rest_powered_down(
        cluster: Outputs, state_dir: Path) -> None:
    assert [(p.name, p.min, p.max, p.nodes) for p in cluster.partitions] == [
        ("cpu", 0, 3, ["cpu-0", "cpu-1", "cpu-2"]), ("big", 1, 2, ["big-0", "big-1"])]
    assert netns_exists(NAME, "big-0")
    assert node_leftovers(state_dir, NAME, ["cpu-0", "cpu-1", "cpu-2", "big-1"]) == []
    assert slurm_states(state_dir, NAME) == {"cpu-0": "idle~", "cpu-1": "idle~", "cpu-2": "idle~", "big-0": "idle",
                                             "big-1": "idle~"}
    status = invoke(state_dir, "status", "--name", NAME)
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in status.stdout.splitlines() if line.startswith("│")}
    assert rows["big-0"][:1] + rows["big-0"][2:4] == ["big", "ok", "idle"]
    assert rows["cpu-1"][:4] == ["cpu", "-", "not running", "idle, powered down"]


def test_a_job_on_a_cold_partition_starts_its_nodes_runs_and_they_go_when_idle(
        cluster: Outputs, state_dir: Path) -> None:
    ran = invoke(state_dir, "run-mpi", "--name", NAME, "--partition", "cpu", "--nodes", "2", timeout=400)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    hosts = set(re.findall(r"Process \d+ on (\S+) received token", ran.stdout))
    assert len(hosts) == 2 and hosts <= {"cpu-0", "cpu-1", "cpu-2"}, ran.stdout
    # it started when its nodes registered (the role's PrologSlurmctld ended), not at Slurm's periodic check
    configured = head_says(state_dir, NAME, "grep", "Configuration for JobId", "/var/log/slurm/slurmctld.log")
    assert "prolog_running_decr: Configuration for JobId=" in configured, configured
    assert "job_time_limit: Configuration" not in configured, configured
    wait_until_gone(state_dir, NAME, sorted(hosts))
    assert slurm_states(state_dir, NAME)["cpu-0"] in ("idle~", "idle%")
    assert netns_exists(NAME, "big-0")  # the always-on node stays


def test_two_partitions_side_by_side_each_runs_on_its_own_nodes(cluster: Outputs, state_dir: Path) -> None:
    big = invoke(state_dir, "run-mpi", "--name", NAME, "--partition", "big", "--nodes", "2", timeout=400)
    assert big.returncode == 0, big.stdout + big.stderr
    assert set(re.findall(r"Process \d+ on (\S+) received token", big.stdout)) == {"big-0", "big-1"}
    default = invoke(state_dir, "run-mpi", "--name", NAME, timeout=400)  # the first partition, at least one node
    assert default.returncode == 0, default.stdout + default.stderr
    assert set(re.findall(r"Process \d+ on (\S+) received token", default.stdout)) <= {"cpu-0", "cpu-1", "cpu-2"}
    wait_until_gone(state_dir, NAME, ["big-1", "cpu-0", "cpu-1", "cpu-2"])
    assert netns_exists(NAME, "big-0")


def test_a_partition_the_environment_has_not_is_one_line_and_exit_2(cluster: Outputs, state_dir: Path) -> None:
    wrong = invoke(state_dir, "run-mpi", "--name", NAME, "--partition", "gpu")
    assert (wrong.returncode, wrong.stderr.strip()) == (
        2, f"--partition gpu: no partition named 'gpu' in environment {NAME!r} (partitions: cpu, big)")
    too_many = invoke(state_dir, "run-mpi", "--name", NAME, "--partition", "big", "--nodes", "3")
    assert (too_many.returncode, too_many.stderr.strip()) == (
        2, "--nodes 3: partition big has at most 2 compute node(s)")


def ask_agent(state_dir: Path, request: str) -> str:
    with socket.socket(socket.AF_UNIX) as agent:
        agent.settimeout(10)
        agent.connect(str(state_dir / NAME / "power" / "agent.sock"))
        agent.sendall(request.encode() + b"\n")
        return agent.makefile().readline().strip()


def test_the_power_agent_takes_only_this_environments_elastic_nodes_and_only_from_root_or_slurm(
        cluster: Outputs, state_dir: Path) -> None:
    assert ask_agent(state_dir, "start head") == f"refused: not a compute node of {NAME}: head"
    assert ask_agent(state_dir, "stop big-0") == "refused: big-0 is always on (its partition's floor)"
    assert ask_agent(state_dir, "reboot cpu-0") == "refused: ask `start NODE...` or `stop NODE...`"
    assert ask_agent(state_dir, "start cpu-0 ../../x") == f"refused: not a compute node of {NAME}: ../../x"
    socket_path = state_dir / NAME / "power" / "agent.sock"
    client = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
              "s.sendall(b'start cpu-0\\n'); print(s.makefile().readline().strip())")
    # the folders above are root's alone; opened to passers-by (x only), the power folder still stops other users,
    # and one the slurm group lets in is refused by the agent itself
    folders = [state_dir, state_dir / NAME]
    modes = [folder.stat().st_mode & 0o7777 for folder in folders]
    try:
        for folder, mode in zip(folders, modes, strict=True):
            folder.chmod(mode | 0o111)
        nobody = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                 "/usr/bin/python3", "-c", client, str(socket_path)], capture_output=True, text=True)
        in_group = subprocess.run(["setpriv", "--reuid=nobody", "--regid=slurm", "--clear-groups",
                                   "/usr/bin/python3", "-c", client, str(socket_path)], capture_output=True, text=True)
    finally:
        for folder, mode in zip(folders, modes, strict=True):
            folder.chmod(mode)
    assert nobody.returncode != 0 and "PermissionError" in nobody.stderr, nobody.stderr
    uid = pwd.getpwnam("nobody").pw_uid
    assert (in_group.returncode, in_group.stdout.strip()) == (0, f"refused: uid {uid} may not start or stop nodes")
    # only the head sees the socket: a compute node has no way to it
    inits = json.loads((state_dir / NAME / "journal.json").read_text())["inits"]
    assert node.run(inits["big-0"], ["ls", "/run/chpc-power"], "look", check=False).returncode != 0
    assert node.run(inits["head"], ["ls", "/run/chpc-power"], "look").stdout.split() == ["agent.sock"]
    assert node_leftovers(state_dir, NAME, ["cpu-0", "cpu-1", "cpu-2", "big-1"]) == []  # none of those started one


def test_up_again_starts_a_power_agent_that_died(cluster: Outputs, state_dir: Path,
                                                 tmp_path: Path) -> None:
    journal = state_dir / NAME / "journal.json"
    agent = json.loads(journal.read_text())["agent"]
    assert agent > 0 and b"power_agent" in Path(f"/proc/{agent}/cmdline").read_bytes()  # kept by every start and stop
    os.kill(agent, signal.SIGKILL)
    again = invoke(state_dir, "up", "--spec", str(elastic_spec(tmp_path / "again.json", NAME)))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"environment {NAME!r}: its power agent had stopped; started it again" in again.stdout
    assert json.loads(journal.read_text())["agent"] != agent
    assert ask_agent(state_dir, "start head") == f"refused: not a compute node of {NAME}: head"


@contextmanager
def cannot_start(node_name: str) -> Iterator[None]:
    """While inside, ``node_name`` cannot start: something else holds its network namespace's name."""
    squatter = netns_name(NAME, node_name)
    subprocess.run(["ip", "netns", "add", squatter], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "netns", "del", squatter], check=False, capture_output=True)


def failed_start(state_dir: Path, node_name: str) -> str:
    """``node_name``'s short state and reason (``down#|local start failed: ...``) once Slurm has it down (120 s at
    most: then whatever it is)."""
    deadline, seen = time.monotonic() + 120, ""
    while not seen.startswith("down") and time.monotonic() < deadline:
        seen = head_says(state_dir, NAME, "sinfo", "-h", "-n", node_name, "-o", "%t|%E").strip()
        time.sleep(0.5)
    return seen


def test_a_node_that_cannot_start_is_down_with_the_reason_and_its_job_runs_on_others(
        cluster: Outputs, state_dir: Path) -> None:
    """Down with the reason, checked while the job waits for other nodes; then returned to service as an
    administrator does."""
    argv, env = harness.invoke_command(state_dir, "run-mpi", "--name", NAME, "--partition", "cpu", "--nodes", "2")
    with cannot_start("cpu-0"), subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                 cwd=harness.ROOT, env=env) as job:
        seen = failed_start(state_dir, "cpu-0")
        status = invoke(state_dir, "status", "--name", NAME)
        out, err = job.communicate(timeout=600)
    state, _, why = seen.partition("|")
    assert state.startswith("down") and why.startswith("local start failed: network for node cpu-0"), seen
    assert "local start failed" in status.stdout, status.stdout
    assert job.returncode == 0, out + err
    assert set(re.findall(r"Process \d+ on (\S+) received token", out)) == {"cpu-1", "cpu-2"}
    assert "requeue" in head_says(state_dir, NAME, "sh", "-c", "grep -i requeue /var/log/slurm/slurmctld.log")
    # back in service as an administrator returns it, once the cause is gone (the squatter is) and Slurm has it
    # powered down (down~): a resume before that leaves it down
    # (Slurm 22.05 sometimes returns it to idle~ by itself as it powers it down: idle_on_node_suspend)
    deadline = time.monotonic() + GONE_WITHIN
    while slurm_states(state_dir, NAME).get("cpu-0") not in ("down~", "idle~") and time.monotonic() < deadline:
        time.sleep(1)
    if slurm_states(state_dir, NAME).get("cpu-0") == "down~":
        head_says(state_dir, NAME, "scontrol", "update", "NodeName=cpu-0", "State=RESUME")
    wait_until_gone(state_dir, NAME, ["cpu-0", "cpu-1", "cpu-2"])


def wait_for_state(state_dir: Path, node_name: str, wanted: str, within: float) -> None:
    deadline = time.monotonic() + within
    while slurm_states(state_dir, NAME).get(node_name) != wanted and time.monotonic() < deadline:
        time.sleep(1)
    assert slurm_states(state_dir, NAME).get(node_name) == wanted


def suspend_exc_nodes(state_dir: Path, node_name: str) -> list[str]:
    conf = (Path(f"/proc/{harness.journal_inits(state_dir / NAME / 'journal.json')[node_name]}/root")
            / "etc/slurm/slurm.conf").read_text()
    return [line for line in conf.splitlines() if line.startswith("SuspendExcNodes")]


def test_scale_needs_nothing_of_a_nodes_run_its_boot_variables_are_on_the_nodes_own_disk(
        cluster: Outputs, state_dir: Path) -> None:
    """What a node's restart takes (/run is tmpfs) is not what scale renders the slurm role from."""
    inits = harness.journal_inits(state_dir / NAME / "journal.json")
    before = {}
    for name in ("head", "big-0"):
        kept = node.private_path(state_dir / NAME / "nodes" / name, BOOT_VARS)  # its private root, not the host's
        assert (stat.S_IMODE(kept.parent.stat().st_mode), stat.S_IMODE(kept.stat().st_mode)) == (0o700, 0o600)
        before[name] = kept.stat().st_ino
        node.run(inits[name], ["rm", "-rf", STAGE], "empty the node's staging on tmpfs, as a restart does")
    same = invoke(state_dir, "scale", "--name", NAME, "--partition", "big", "--min", "1")
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"partition big of {NAME}: 1 of 2 nodes always on (was 1)" in same.stdout
    for name in ("head", "big-0"):  # rendered from them: the merge of the floor replaced each file
        kept = node.private_path(state_dir / NAME / "nodes" / name, BOOT_VARS)
        assert kept.stat().st_ino != before[name]
        assert json.loads(kept.read_text())["slurm_always_on"] == ["big-0"]
    assert suspend_exc_nodes(state_dir, "head") == suspend_exc_nodes(state_dir, "big-0") == ["SuspendExcNodes=big-0"]


def test_scale_moves_a_partitions_floor_while_it_runs(cluster: Outputs, state_dir: Path) -> None:
    up = invoke(state_dir, "scale", "--name", NAME, "--partition", "cpu", "--min", "1")
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"partition cpu of {NAME}: 1 of 3 nodes always on (was 0); starting cpu-0" in up.stdout
    wait_for_state(state_dir, "cpu-0", "idle", 120)
    assert [p.min for p in Outputs.load(state_dir / NAME / "outputs.json").partitions] == [1, 1]
    assert suspend_exc_nodes(state_dir, "head") == suspend_exc_nodes(state_dir, "big-0") == [
        "SuspendExcNodes=cpu-0,big-0"]
    time.sleep(IDLE_MINUTES * 60 + 15)  # past the idle time: a floor node stays
    assert netns_exists(NAME, "cpu-0") and slurm_states(state_dir, NAME)["cpu-0"] == "idle"
    down = invoke(state_dir, "scale", "--name", NAME, "--partition", "cpu", "--min", "0")
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"partition cpu of {NAME}: 0 of 3 nodes always on (was 1); the others stop after the idle time" in (
        down.stdout)
    wait_until_gone(state_dir, NAME, ["cpu-0"])
    assert suspend_exc_nodes(state_dir, "head") == ["SuspendExcNodes=big-0"]


def test_scale_resets_floor_nodes_whose_start_failed_and_names_one_taken_out_of_service(
        cluster: Outputs, state_dir: Path) -> None:
    """Floor nodes Slurm holds down after a failed start are started by the next scale, once the cause is gone:
    one it still waits for (``down#``, as the power agent leaves it) and one it powered down (``down~``, as its
    ResumeTimeout leaves it); one drained is left so, named in one line."""
    with cannot_start("cpu-0"):
        first = invoke(state_dir, "scale", "--name", NAME, "--partition", "cpu", "--min", "1")
        assert first.returncode == 0, first.stdout + first.stderr
        seen = failed_start(state_dir, "cpu-0")
    state, _, why = seen.partition("|")
    assert state == "down#" and why.startswith("local start failed: network for node cpu-0"), seen
    head_says(state_dir, NAME, "scontrol", "update", "NodeName=cpu-1", "State=DOWN", "Reason=start timed out")
    assert slurm_states(state_dir, NAME)["cpu-1"] == "down~"
    again = invoke(state_dir, "scale", "--name", NAME, "--partition", "cpu", "--min", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"partition cpu of {NAME}: 2 of 3 nodes always on (was 1); cpu-0 was down# (local start failed: " in (
        again.stdout)
    assert "; cpu-1 was down~ (start timed out): reset; starting cpu-0, cpu-1\n" in again.stdout
    wait_for_state(state_dir, "cpu-0", "idle", 180)
    wait_for_state(state_dir, "cpu-1", "idle", 180)
    head_says(state_dir, NAME, "scontrol", "update", "NodeName=cpu-2", "State=DRAIN", "Reason=kept by the test")
    try:
        held = invoke(state_dir, "scale", "--name", NAME, "--partition", "cpu", "--min", "3")
    finally:
        head_says(state_dir, NAME, "scontrol", "update", "NodeName=cpu-2", "State=RESUME")
    assert held.returncode == 1, held.stdout + held.stderr
    assert ("error: [head] power up the floor failed: cpu-2 is drain~ (kept by the test), so it was not started (the "
            "floor is recorded, its other nodes started)") in (held.stdout + held.stderr).splitlines(), held.stdout
    assert node_leftovers(state_dir, NAME, ["cpu-2"]) == []
    assert [p.min for p in Outputs.load(state_dir / NAME / "outputs.json").partitions] == [3, 1]
    down = invoke(state_dir, "scale", "--name", NAME, "--partition", "cpu", "--min", "0")
    assert down.returncode == 0, down.stdout + down.stderr
    wait_until_gone(state_dir, NAME, ["cpu-0", "cpu-1", "cpu-2"])


@pytest.mark.parametrize(("flags", "line"), [
    (["--partition", "gpu", "--min", "1"], "scale: no partition named 'gpu' in environment {name!r} (partitions: cpu, "
                                           "big)"),
    (["--partition", "cpu", "--min", "4"], "scale --min 4: partition cpu has 3 nodes; give 0 to 3"),
    (["--partition", "cpu", "--min", "-1"], "--min '-1': a whole number from 0 to the partition's max"),
    (["--partition", "cpu"], "give --partition P and --min N"),
])
def test_a_scale_that_cannot_be_is_one_line_and_exit_2(cluster: Outputs, state_dir: Path, flags: list[str],
                                                      line: str) -> None:
    wrong = invoke(state_dir, "scale", "--name", NAME, *flags)
    assert (wrong.returncode, wrong.stderr.strip() or wrong.stdout.strip()) == (2, "error: " + line.format(name=NAME))


def test_destroy_while_nodes_are_starting_leaves_nothing(tmp_path: Path, state_dir: Path) -> None:
    name = harness.run_name("elastic-d")
    spec = elastic_spec(tmp_path / "starting.json", name)
    up = invoke(state_dir, "up", "--spec", str(spec))
    assert up.returncode == 0, up.stdout + up.stderr
    with harness.taken_down_if_failing(state_dir, name):
        namespaces = harness.pid_namespaces(state_dir, name)
        submitted = invoke(state_dir, "run-mpi", "--name", name, "--partition", "cpu", "--nodes", "3", "--detach")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        deadline = time.monotonic() + 60
        while not all(netns_exists(name, n) for n in ("cpu-0", "cpu-1")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert netns_exists(name, "cpu-0"), "no node started"
        namespaces |= harness.pid_namespaces(state_dir, name)
    gone = invoke(state_dir, "destroy", "--name", name)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert harness.leftovers(state_dir, name, namespaces) == []
    assert node_leftovers(state_dir, name, ["cpu-0", "cpu-1", "cpu-2"]) == []
