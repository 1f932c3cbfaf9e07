"""The Slurm job lifecycle without Slurm: fake sbatch/scontrol/scancel/mpirun on the head's PATH.

The fakes live in a temp directory passed as ``path_prefix`` (the same knob that points at a Slurm
installed outside the non-login PATH). The real Slurm path is tested end to end on the local cluster.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from remote import files, slurm
from remote.errors import ConnectionLost, RemoteError
from remote.pool import Pool
from remote.run import run

COMPLETED_LINE = (
    "JobId=5 JobName=ring UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 Nice=0 Account=(null) "
    "QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 "
    "ExitCode=0:0 RunTime=00:00:02 TimeLimit=00:10:00 TimeMin=N/A SubmitTime=2024-05-01T10:00:00 "
    "EligibleTime=2024-05-01T10:00:00 AccrueTime=Unknown StartTime=2024-05-01T10:00:00 "
    "EndTime=2024-05-01T10:00:02 Deadline=N/A SuspendTime=None SecsPreSuspend=0 "
    "LastSchedEval=2024-05-01T10:00:00 Scheduler=Main Partition=compute AllocNode:Sid=head:1234 "
    "ReqNodeList=(null) ExcNodeList=(null) NodeList=compute-[0-1] BatchHost=compute-0 NumNodes=2 NumCPUs=4 "
    "NumTasks=4 CPUs/Task=1 ReqB:S:C:T=0:0:*:* ReqTRES=cpu=4,mem=1G,node=2,billing=4 "
    "AllocTRES=cpu=4,mem=1G,node=2,billing=4 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* "
    "MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK "
    "Contiguous=0 Licenses=(null) Network=(null) Command=/shared/jobs/ring/job.sbatch "
    "WorkDir=/shared/jobs/ring StdErr=/shared/jobs/ring/slurm-5.err StdIn=/dev/null "
    "StdOut=/shared/jobs/ring/slurm-5.out Power="
)


def line(state: str, exit_code: str = "0:0", node_list: str = "compute-[0-1]", reason: str = "None") -> str:
    return (COMPLETED_LINE.replace("JobState=COMPLETED Reason=None", f"JobState={state} Reason={reason}")
            .replace("ExitCode=0:0", f"ExitCode={exit_code}").replace("NodeList=compute-[0-1]",
                                                                       f"NodeList={node_list}"))


# -- parsing (pure) ------------------------------------------------------------------------------------


def test_parse_completed_line() -> None:
    fields = slurm.parse_scontrol(COMPLETED_LINE)
    assert fields["ReqTRES"] == "cpu=4,mem=1G,node=2,billing=4"
    assert fields["AllocNode:Sid"] == "head:1234" and fields["Power"] == ""
    state = slurm.state_from_scontrol(COMPLETED_LINE)
    assert state == slurm.JobState("COMPLETED", 0, 0, "compute-[0-1]", True, "None")


@pytest.mark.parametrize(
    ("state", "exit_code", "node_list", "reason", "expected"),
    [
        ("PENDING", "0:0", "(null)", "Resources", ("PENDING", 0, 0, "", False)),
        ("RUNNING", "0:0", "compute-[0-3]", "None", ("RUNNING", 0, 0, "compute-[0-3]", False)),
        ("COMPLETING", "0:0", "compute-0", "None", ("COMPLETING", 0, 0, "compute-0", False)),
        ("FAILED", "1:0", "compute-0", "NonZeroExitCode", ("FAILED", 1, 0, "compute-0", True)),
        ("CANCELLED", "0:15", "compute-1", "None", ("CANCELLED", 0, 15, "compute-1", True)),
        ("TIMEOUT", "0:15", "compute-1", "TimeLimit", ("TIMEOUT", 0, 15, "compute-1", True)),
        ("NODE_FAIL", "0:0", "compute-2", "NodeDown", ("NODE_FAIL", 0, 0, "compute-2", True)),
        ("OUT_OF_MEMORY", "0:125", "compute-0", "OutOfMemory", ("OUT_OF_MEMORY", 0, 125, "compute-0", True)),
    ],
)
def test_parse_states(state: str, exit_code: str, node_list: str, reason: str, expected: tuple) -> None:
    parsed = slurm.state_from_scontrol(line(state, exit_code, node_list, reason))
    assert (parsed.state, parsed.exit_code, parsed.signal, parsed.node_list, parsed.finished) == expected
    assert parsed.reason == reason


def test_parse_job_id_and_time() -> None:
    assert slurm.parse_job_id("42\n") == 42
    assert slurm.parse_job_id("Submitted\n43;cluster\n") == 43
    with pytest.raises(ValueError):
        slurm.parse_job_id("")
    assert slurm.slurm_time(59) == "0-00:01:00"
    assert slurm.slurm_time(600) == "0-00:10:00"
    assert slurm.slurm_time(90061) == "1-01:02:00"


def test_parse_rejects_a_line_without_state() -> None:
    with pytest.raises(ValueError):
        slurm.state_from_scontrol("JobId=5 JobName=ring")


# -- fakes on the head --------------------------------------------------------------------------------


@dataclass
class Fakes:
    bin: Path
    state_dir: Path
    job_dir: Path

    @property
    def prefix(self) -> str:
        return str(self.bin)

    def count(self, what: str) -> int:
        path = self.state_dir / what
        return int(path.read_text()) if path.exists() else 0

    def set_state(self, state: str, exit_code: str = "0:0") -> None:
        (self.state_dir / "state.tmp").write_text(f"{state} {exit_code}\n")
        (self.state_dir / "state.tmp").rename(self.state_dir / "state")


FAKE_SBATCH = """#!/bin/sh
# like `sbatch --parsable`: queue the job (count it, atomically: the test reads it) and print "id;cluster"
d=STATE
[ -f "$d/sbatch-fails" ] && { echo "sbatch: error: invalid partition specified: nope" >&2; exit 1; }
n=$(( $(cat "$d/sbatch" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$d/sbatch.$$" && mv "$d/sbatch.$$" "$d/sbatch"
sleep "$(cat "$d/sbatch-delay" 2>/dev/null || echo 0)"
echo "$((1000 + n));cluster"
"""

FAKE_SCONTROL = """#!/bin/sh
# `scontrol show job -o ID`: one line in the real format, the state from STATE/state
d=STATE
n=$(( $(cat "$d/scontrol" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/scontrol.$$" && mv "$d/scontrol.$$" "$d/scontrol"
[ -f "$d/hang-once" ] && { rm "$d/hang-once"; sleep 3; }
[ -f "$d/gone" ] && { echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }
read state code < "$d/state"
echo "LINE" | sed -e "s/JobId=5/JobId=$4/" -e "s/JobState=COMPLETED/JobState=$state/" \\
  -e "s/ExitCode=0:0/ExitCode=$code/"
"""

FAKE_SCANCEL = """#!/bin/sh
echo "$1" >> STATE/scancelled
"""

FAKE_MPIRUN = """#!/bin/sh
# prints its arguments one per line, then exits with $FAKE_RC
for a in "$@"; do echo "arg:$a"; done
exit "${FAKE_RC:-0}"
"""


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    bin_dir = tmp_path / "bin"
    state_dir = tmp_path / "state"
    job_dir = tmp_path / "jobs" / "ring-1"
    for d in (bin_dir, state_dir, job_dir):
        d.mkdir(parents=True)
    scripts = {"sbatch": FAKE_SBATCH, "scontrol": FAKE_SCONTROL.replace("LINE", COMPLETED_LINE),
               "scancel": FAKE_SCANCEL, "mpirun": FAKE_MPIRUN}
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text.replace("STATE", str(state_dir)))
        path.chmod(0o755)
    (job_dir / "job.sbatch").write_text("#!/bin/sh\necho hi\n")
    fakes = Fakes(bin_dir, state_dir, job_dir)
    fakes.set_state("RUNNING")
    return fakes


# -- submit -------------------------------------------------------------------------------------------


def test_submit_is_idempotent(pool: Pool, fakes: Fakes) -> None:
    first = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    again = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    pool.reset("head")
    after_reset = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    assert first == again == after_reset == 1001
    assert fakes.count("sbatch") == 1
    assert (fakes.job_dir / "jobid").read_text().strip() == "1001;cluster"


def test_concurrent_submits_queue_one_job(pool: Pool, fakes: Fakes) -> None:
    (fakes.state_dir / "sbatch-delay").write_text("0.5")
    ids: list[int] = []

    def submit() -> None:
        ids.append(slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix))

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ids == [1001, 1001, 1001] and fakes.count("sbatch") == 1


def test_submit_survives_a_connection_dropped_mid_sbatch(pool: Pool, fakes: Fakes) -> None:
    (fakes.state_dir / "sbatch-delay").write_text("1.5")
    head = pool.head()
    threading.Timer(0.5, lambda: head.get_transport().close()).start()
    with pytest.raises(ConnectionLost):
        slurm.submit(head, str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    pool.reset("head")
    # sbatch kept running on the head (HUP ignored, own session); the retry waits on the lock for it
    job_id = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    assert job_id == 1001 and fakes.count("sbatch") == 1


def test_failed_sbatch_is_reported_and_can_be_retried(pool: Pool, fakes: Fakes) -> None:
    (fakes.state_dir / "sbatch-fails").write_text("")
    with pytest.raises(RemoteError) as caught:
        slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    assert caught.value.step == "sbatch" and "invalid partition" in str(caught.value)
    (fakes.state_dir / "sbatch-fails").unlink()
    assert slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix) == 1001


# -- job_state / wait ---------------------------------------------------------------------------------


def test_job_state_from_scontrol_and_from_exitcode(pool: Pool, fakes: Fakes) -> None:
    head = pool.head()
    fakes.set_state("FAILED", "2:0")
    state = slurm.job_state(head, 1001, str(fakes.job_dir), path_prefix=fakes.prefix)
    assert (state.state, state.exit_code, state.finished) == ("FAILED", 2, True)
    (fakes.state_dir / "gone").write_text("")
    with pytest.raises(RemoteError) as caught:
        slurm.job_state(head, 1001, str(fakes.job_dir), path_prefix=fakes.prefix)
    assert "exitcode" in str(caught.value) and "slurm-1001.out" in str(caught.value)
    (fakes.job_dir / "exitcode").write_text("0\n")
    state = slurm.job_state(head, 1001, str(fakes.job_dir), path_prefix=fakes.prefix)
    assert (state.state, state.exit_code, state.finished) == ("COMPLETED", 0, True)
    (fakes.job_dir / "exitcode").write_text("3\n")
    assert slurm.job_state(head, 1001, str(fakes.job_dir), path_prefix=fakes.prefix).state == "FAILED"


def test_wait_reattaches_to_the_same_job(pool: Pool, fakes: Fakes) -> None:
    job_id = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    first_head = pool.head()
    updates: list[tuple[str, float]] = []
    outcome: dict[str, object] = {}

    def waiter() -> None:
        try:
            outcome["state"] = slurm.wait(pool, job_id, str(fakes.job_dir), timeout=20, poll=0.1,
                                          on_update=lambda s, t: updates.append((s.state, t)),
                                          path_prefix=fakes.prefix)
        except BaseException as err:  # reported by the assertions below
            outcome["error"] = err

    thread = threading.Thread(target=waiter)
    thread.start()
    _until(lambda: fakes.count("scontrol") >= 2)
    first_head.get_transport().close()  # the connection drops mid-wait
    polls_at_drop = fakes.count("scontrol")
    _until(lambda: fakes.count("scontrol") >= polls_at_drop + 2)  # polling again on a new connection
    fakes.set_state("COMPLETED")
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    final = outcome["state"]
    assert isinstance(final, slurm.JobState) and final.state == "COMPLETED" and final.finished
    assert pool.head() is not first_head
    assert fakes.count("sbatch") == 1  # re-attached, never resubmitted
    assert updates[0][0] == "RUNNING" and updates[-1][0] == "COMPLETED"
    assert [t for _, t in updates] == sorted(t for _, t in updates)


def test_wait_recovers_from_a_silent_poll(pool: Pool, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurm, "POLL_TIMEOUT", 0.5)
    first_head = pool.head()
    (fakes.state_dir / "hang-once").write_text("")  # the first poll gets no answer
    fakes.set_state("COMPLETED", "0:0")
    state = slurm.wait(pool, 1001, str(fakes.job_dir), timeout=20, poll=0.1, path_prefix=fakes.prefix)
    assert state.state == "COMPLETED" and fakes.count("scontrol") == 2
    assert pool.head() is not first_head  # the silent connection was replaced


def test_wait_timeout_cancels(pool: Pool, fakes: Fakes) -> None:
    with pytest.raises(RemoteError) as caught:
        slurm.wait(pool, 1001, str(fakes.job_dir), timeout=1.0, poll=0.2, path_prefix=fakes.prefix)
    err = caught.value
    assert err.step == "wait" and "--timeout" in err.hint and "RUNNING" in err.detail
    assert (fakes.state_dir / "scancelled").read_text().split() == ["1001"]


def _until(condition: object, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.05)


# -- the batch script ---------------------------------------------------------------------------------


def test_batch_script_lines(tmp_path: Path) -> None:
    script = slurm.batch_script(job_name="ring", job_dir="/shared/jobs/ring-1",
                                program="/shared/jobs/ring-1/ring", args=["a b", "it's"], nodes=2, ntasks=4,
                                partition="compute", timeout=600, mca={"btl": "self,tcp"})
    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    for expected in ("#SBATCH --job-name=ring", "#SBATCH --nodes=2", "#SBATCH --ntasks=4",
                     "#SBATCH --output=/shared/jobs/ring-1/slurm-%j.out",
                     "#SBATCH --error=/shared/jobs/ring-1/slurm-%j.err",
                     "#SBATCH --chdir=/shared/jobs/ring-1",
                     "#SBATCH --partition=compute", "#SBATCH --time=0-00:10:00", "set -u",
                     "mpirun --mca btl self,tcp /shared/jobs/ring-1/ring 'a b' 'it'\"'\"'s'"):
        assert expected in lines, expected
    with pytest.raises(ValueError):
        slurm.batch_script(job_name="ring", job_dir="/a b", program="x", nodes=1, ntasks=1, partition="c",
                           timeout=1)


@pytest.mark.parametrize("rc", [0, 3])
def test_batch_script_records_the_exit_code(pool: Pool, fakes: Fakes, rc: int) -> None:
    job_dir = str(fakes.job_dir)
    script = slurm.batch_script(job_name="ring", job_dir=job_dir, program="./ring", args=["x y"], nodes=1,
                                ntasks=1, partition="compute", timeout=60)
    head = pool.head()
    files.put_text(head, script, f"{job_dir}/job.sbatch", mode=0o755)
    result = run(head, f"cd {job_dir} && FAKE_RC={rc} PATH={fakes.bin}:$PATH ./job.sbatch", step="job",
                 check=False)
    assert result.exit_code == rc
    assert "arg:./ring\narg:x y\n" in result.stdout
    assert files.get_text(head, f"{job_dir}/exitcode").strip() == str(rc)
    assert slurm.state_from_exitcode(str(rc)).state == ("COMPLETED" if rc == 0 else "FAILED")
