"""Faults on the client's side, on a real local cluster: the SSH connection dropped under `invoke mount` and under
`invoke submit-spark`, and Ctrl-C (SIGINT to the `invoke up` process group, as a terminal sends it) at three points
of `up`. Each test asserts what the user sees and what survives; the faults are placed by watching the journal,
the progress lines and the nodes' processes, never by sleeping."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from remote.pool import Pool
from remote.run import run
from spec.outputs import Outputs
from targets.local import node
from tests.local.harness import (
    ROOT,
    environment,
    invoke,
    invoke_command,
    journal_inits,
    leftovers,
    run_name,
    write_spec,
)

pytestmark = pytest.mark.local_cluster
T = TypeVar("T")

DROP, CTRL_C = run_name("faultssh"), run_name("faultint")
SLOW_JOB = ROOT / "tests" / "local" / "spark_slow_job.py"
MOUNT_LOCK = "/run/chpc-mount.lock"  # mount.sh's, one run at a time on a node
PRECIOUS = "precious, kept across every fault\n"
BOTH_VOLUMES = ["compute-0-scratch.img", "head-scratch.img"]  # retained: kept by every rollback once attached


@pytest.fixture(scope="module")
def drop_env(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outputs]:
    """1 head (Spark master) + 1 compute node (a worker), shared by the dropped-connection tests."""
    spec = write_spec(tmp_path_factory.mktemp("spec") / "drop.json", DROP, compute=1, spark=True)
    with environment(state_dir, spec, DROP) as outputs:
        yield outputs


def wait_for(found: Callable[[], T], what: str, timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout:.0f} s: {what}")


def node_processes(init_pid: int) -> Iterator[tuple[int, list[bytes]]]:
    """(host pid, argv) of every process of the node whose PID-namespace init is ``init_pid``."""
    namespace = os.readlink(f"/proc/{init_pid}/ns/pid")
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "ns" / "pid") == namespace:
                yield int(proc.name), (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue


def mount_scripts(init_pid: int) -> list[int]:
    """The runs of mount.sh on the node (``sh -c SCRIPT mount.sh ...``, as remote/mounts.py starts it)."""
    return sorted(pid for pid, argv in node_processes(init_pid) if argv[3:4] == [b"mount.sh"])


def sshd_sessions(init_pid: int) -> list[int]:
    """The node's sshd session processes (``sshd: root@notty``), not its listener."""
    return [pid for pid, argv in node_processes(init_pid)
            if argv[0].startswith(b"sshd: ") and b"[listener]" not in argv[0]]


def drop_session_of(pid: int) -> list[int]:
    """Kill the sshd session processes above ``pid``: the client's TCP connection closes as when the network drops,
    and the command itself runs on, orphaned, as it would."""
    killed = []
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        if b"[listener]" in argv0:
            break
        if argv0.startswith(b"sshd: "):
            killed.append(pid)
    assert killed, "no sshd session above the process"
    for session in killed:
        os.kill(session, signal.SIGKILL)
    return killed


def lose_scratch(outputs: Outputs) -> None:
    """compute-0's volume holds a file, then loses its mount (as `invoke mount` exists to mend)."""
    with Pool(outputs) as pool:
        run(pool.client("compute-0"), f"printf %s '{PRECIOUS}' > /scratch/precious.txt && sync && umount /scratch",
            node="compute-0", step="write, then lose the mount")


def new_runs(init_pid: int, known: list[int]) -> Callable[[], list[int]]:
    return lambda: [pid for pid in mount_scripts(init_pid) if pid not in known]


def mount_with_drops(state_dir: Path, drops: int) -> tuple[int, str, str]:
    """`invoke mount`, whose connection to compute-0 is dropped ``drops`` times while mount.sh is at work there:
    held at its lock (which the test holds meanwhile), each time the run of mount.sh the task started last. The
    dropped runs go on, orphaned, once the lock is free. Returns the task's exit code, stdout and stderr."""
    compute = journal_inits(state_dir / DROP / "journal.json")["compute-0"]
    argv, env = invoke_command(state_dir, "mount", "--name", DROP)
    with open(f"/proc/{compute}/root{MOUNT_LOCK}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        task = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        dropped: list[int] = []
        killed: list[int] = []
        for _ in range(drops):
            [started] = wait_for(new_runs(compute, dropped), "mount.sh at work")
            killed += drop_session_of(started)
            dropped.append(started)
        if drops == 1:  # the task re-attached: its new run waits behind the dropped one
            wait_for(new_runs(compute, dropped), "mount.sh run again on a new connection")
        else:
            task.wait(timeout=300)  # it gave up while the dropped runs still wait
        assert set(dropped) <= set(mount_scripts(compute))  # still at work, orphaned
    out, err = task.communicate(timeout=300)
    assert not any(Path(f"/proc/{pid}").exists() for pid in killed)
    assert "formatted" not in out and "Traceback" not in out + err
    return task.returncode, out, err


def assert_scratch_kept(outputs: Outputs, state_dir: Path) -> None:
    """`invoke mount` again: every mount there (compute-0's /scratch mounted by it when the dropped task gave up
    before), nothing formatted, the volume's file as it was."""
    again = invoke(state_dir, "mount", "--name", DROP)
    assert again.returncode == 0 and "formatted" not in again.stdout, again.stdout + again.stderr
    mounted = re.findall(r"^(head|compute-0) (/shared|/scratch): \S+ \((bind|ext4)\) (already )?mounted$", again.stdout,
                         re.M)
    assert len(mounted) == 4, again.stdout  # the shared folder and the volume, on 2 nodes
    with Pool(outputs) as pool:
        kept = run(pool.client("compute-0"), ["cat", "/scratch/precious.txt"], node="compute-0", step="read").stdout
    assert kept == PRECIOUS


def test_a_connection_dropped_during_mount_reattaches_and_formats_nothing(drop_env: Outputs, state_dir: Path) -> None:
    lose_scratch(drop_env)
    code, out, err = mount_with_drops(state_dir, 1)
    assert code == 0, out + err
    assert re.search(r"^compute-0 /scratch: /dev/loop\d+ \(ext4\) (already )?mounted$", out, re.M), out
    assert_scratch_kept(drop_env, state_dir)


def test_a_mount_dropped_again_after_reattaching_names_node_step_and_to_run_it_again(drop_env: Outputs,
                                                                                     state_dir: Path) -> None:
    lose_scratch(drop_env)
    code, out, err = mount_with_drops(state_dir, 2)
    assert code == 1, out + err
    error, remedy = out.splitlines()[-2:]
    assert re.fullmatch(r"error: \[compute-0\] mount shared failed: the SSH connection dropped: .+", error), out
    assert remedy == ("  what to do: run `invoke mount` again once the node answers: it mounts only what is missing "
                      "and never formats a volume that has a file system"), out
    assert_scratch_kept(drop_env, state_dir)


def master_apps(outputs: Outputs) -> dict[str, list[str]]:
    """The Spark master's applications by state, asked from this machine (root reaches the bridge), not over SSH,
    so the test opens no session of its own on the head."""
    with urllib.request.urlopen(f"http://{outputs.head.address}:8080/json/", timeout=10) as answer:
        master = json.loads(answer.read())
    return {state: [app["name"] for app in master.get(state, [])] for state in ("activeapps", "completedapps")}


def test_a_connection_dropped_during_a_spark_job_reattaches_and_submits_it_once(drop_env: Outputs,
                                                                                 state_dir: Path) -> None:
    head = journal_inits(state_dir / DROP / "journal.json")["head"]
    argv, env = invoke_command(state_dir, "submit-spark", "--name", DROP, "--script", str(SLOW_JOB))
    job = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: "faults-slow" in master_apps(drop_env)["activeapps"], "the application running")
    sessions = sshd_sessions(head)
    assert sessions, "the task holds no SSH session on the head"
    for session in sessions:  # the task's connection to the head (the only SSH client of this environment now)
        os.kill(session, signal.SIGKILL)
    out, err = job.communicate(timeout=600)
    assert job.returncode == 0, out + err[-3000:]
    assert "slow sum 6\n" in out and "spark job done" in out, out
    said = r"Z spark job spark_slow_job: the connection dropped, re-attaching to the running job, \d+ s$"
    assert re.search(said, out, re.M), out
    assert not set(sessions) & set(sshd_sessions(head))  # what answered came over a new connection
    apps = master_apps(drop_env)
    assert apps["completedapps"].count("faults-slow") == 1 and "faults-slow" not in apps["activeapps"], apps


def retained_volume(state_dir: Path, name: str) -> Path:
    """The head's retained volume, made before `up` with an ext4 file system holding a file: `up` attaches it as
    it is, and every rollback must keep it, file system and file."""
    image = state_dir / name / "volumes" / "head-scratch.img"
    if not image.exists():
        content = state_dir / f"{name}-content"
        content.mkdir(parents=True)
        (content / "precious.txt").write_text(PRECIOUS)
        image.parent.mkdir(parents=True)
        with open(image, "wb") as blank:
            blank.truncate(1024**3)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(content), str(image)], check=True, capture_output=True)
    return image


def volume_file(image: Path) -> str:
    """precious.txt as the volume's own file system holds it (read by debugfs, nothing mounted)."""
    return subprocess.run(["debugfs", "-R", "cat /precious.txt", str(image)], capture_output=True, text=True,
                          check=True).stdout


class Up:
    """`invoke up` in its own process group, as a terminal runs it, its output read line by line as it comes."""

    def __init__(self, state_dir: Path, spec: Path) -> None:
        argv, env = invoke_command(state_dir, "up", "--spec", str(spec))
        # SIGINT as a terminal leaves it: a test run started in the background by a non-interactive shell (`make test
        # &`) inherits SIGINT ignored, and so would `up`, which then never sees the Ctrl-C this test sends
        self.process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True,
                                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout or []:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def reaches(self, text: str, what: str, timeout: float) -> None:
        """Until a line holds ``text``; an `up` that ends first fails the test with its output."""
        wait_for(lambda: self.saw(text) or self.process.poll() is not None, what, timeout)
        assert self.saw(text), f"up ended before {what}: {''.join(self.lines)}"

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def end(self) -> tuple[int, str, str]:
        """Exit code, stdout and stderr, once it has ended (promptly: it was interrupted)."""
        code = self.process.wait(timeout=120)
        self.reader.join(30)
        return code, "".join(self.lines), (self.process.stderr.read() if self.process.stderr else "")


def assert_rolled_back(state_dir: Path, name: str, namespaces: set[str], code: int, out: str, err: str,
                       image: Path, kept: list[str]) -> None:
    """Exit 130 and one line saying so; nothing of the environment left but its retained volumes (``kept``: those
    made before the interruption), the file on the one made before `up` intact; the lock free."""
    assert code == 130, out + err
    assert out.splitlines()[-1] == (f"error: up of '{name}' interrupted (Ctrl-C): rolled back, nothing of it is left "
                                    "but its retained volumes (scratch)"), out
    assert "Traceback" not in out + err
    assert leftovers(state_dir, name, namespaces) == []
    folder = state_dir / name
    assert sorted(p.name for p in folder.iterdir() if p.name != "lock") == ["volumes"]
    assert sorted(p.name for p in (folder / "volumes").iterdir()) == kept
    with open(folder / "lock", "a") as lock:  # no holder: the next up or destroy may take it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert volume_file(image) == PRECIOUS


def namespaces_of(state_dir: Path, name: str) -> set[str]:
    return {os.readlink(f"/proc/{pid}/ns/pid") for pid in journal_inits(state_dir / name / "journal.json").values()}


@pytest.fixture
def ctrl_c_spec(state_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """1 head + 1 compute node, each with a retained volume; taken down if a test leaves it up."""
    yield write_spec(tmp_path / "ctrl-c.json", CTRL_C, compute=1, retain=True)
    if (state_dir / CTRL_C / "journal.json").exists():
        invoke(state_dir, "destroy", "--name", CTRL_C)


def test_ctrl_c_while_the_nodes_are_made_rolls_back(state_dir: Path, ctrl_c_spec: Path) -> None:
    """Between the head's namespaces and compute-0's: the bridge, the host filter and a loop-free node exist."""
    image = retained_volume(state_dir, CTRL_C)
    up = Up(state_dir, ctrl_c_spec)
    journal = state_dir / CTRL_C / "journal.json"
    wait_for(lambda: len(journal_inits(journal)) == 1, "the head's init journaled", timeout=120)
    namespaces = namespaces_of(state_dir, CTRL_C)
    up.ctrl_c()
    code, out, err = up.end()
    assert not up.saw("nodes head, compute-0")  # interrupted before every node was made
    # compute-0's retained volume is kept when it was attached before the signal came, as every retained one is
    kept = sorted(p.name for p in (state_dir / CTRL_C / "volumes").iterdir())
    assert kept in (["head-scratch.img"], BOTH_VOLUMES)
    assert_rolled_back(state_dir, CTRL_C, namespaces, code, out, err, image, kept)


def test_ctrl_c_twice_during_the_boot_rolls_back(state_dir: Path, ctrl_c_spec: Path) -> None:
    """While the roles run on the nodes; the impatient user presses Ctrl-C again as the rollback starts."""
    image = retained_volume(state_dir, CTRL_C)
    up = Up(state_dir, ctrl_c_spec)
    up.reaches("booting: head at '", "a node's boot at one of its steps", timeout=180)
    namespaces = namespaces_of(state_dir, CTRL_C)
    up.ctrl_c()
    up.reaches("up interrupted: rolling back", "the rollback starting", timeout=60)
    up.ctrl_c()
    code, out, err = up.end()
    assert not up.saw("booted ")
    assert_rolled_back(state_dir, CTRL_C, namespaces, code, out, err, image, BOTH_VOLUMES)


def test_ctrl_c_while_waiting_for_slurm_rolls_back(state_dir: Path, ctrl_c_spec: Path) -> None:
    """compute-0 drained on the controller as the head boots (as an administrator would): every node boots, and
    `up` waits for Slurm to call the node idle, which it does not while drained."""
    image = retained_volume(state_dir, CTRL_C)
    up = Up(state_dir, ctrl_c_spec)
    journal = state_dir / CTRL_C / "journal.json"
    head = wait_for(lambda: journal_inits(journal).get("head", 0), "the head's init journaled", timeout=120)
    wait_for(lambda: any(argv[0].endswith(b"slurmctld") for _, argv in node_processes(head)), "slurmctld started",
             timeout=180)
    drain = ["scontrol", "update", "nodename=compute-0", "state=drain", "reason=fault test"]
    wait_for(lambda: node.run(head, drain, "drain", check=False).returncode == 0, "compute-0 drained", timeout=180)
    up.reaches("waiting for Slurm compute nodes to register", "up waiting for Slurm", timeout=180)
    namespaces = namespaces_of(state_dir, CTRL_C)
    up.ctrl_c()
    code, out, err = up.end()
    assert up.saw("booted 2 nodes") and not up.saw(f"up {CTRL_C}:")
    assert_rolled_back(state_dir, CTRL_C, namespaces, code, out, err, image, BOTH_VOLUMES)
