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
from remote.batch_script import batch_script, output_names, slurm_time
from remote.errors import CommandTimeout, ConnectionLost, RemoteError, SlurmUnanswered
from remote.job_record import JobRecord
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
    assert state == slurm.JobState("COMPLETED", 0, 0, "compute-[0-1]", True, "None",
                                   stdout="/shared/jobs/ring/slurm-5.out", stderr="/shared/jobs/ring/slurm-5.err",
                                   command="/shared/jobs/ring/job.sbatch")


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
    assert slurm_time(59) == "0-00:01:00"
    assert slurm_time(600) == "0-00:10:00"
    assert slurm_time(90061) == "1-01:02:00"


def test_parse_rejects_a_line_without_state() -> None:
    with pytest.raises(ValueError):
        slurm.state_from_scontrol("JobId=5 JobName=ring")


def array_line(task: str, state: str, exit_code: str = "0:0") -> str:
    """One task of array job 1, as Slurm 22.05's `scontrol show job -o 1` prints it (shortened)."""
    return (f"JobId={10 + len(task)} ArrayJobId=1 ArrayTaskId={task} ArrayTaskThrottle=2 JobName=exp "
            f"JobState={state} Reason=None ExitCode={exit_code} NodeList=compute-0 BatchHost=compute-0 "
            "Command=/shared/.chpc/jobs/exp/a.sh WorkDir=/shared/.chpc/jobs/exp "
            f"StdErr=/shared/.chpc/jobs/exp/out-exp-1_{task}.txt StdIn=/dev/null "
            f"StdOut=/shared/.chpc/jobs/exp/out-exp-1_{task}.txt Power=")


def test_an_array_job_is_done_when_each_task_is_and_exits_with_the_worst_code() -> None:
    running = slurm.JobStatus((slurm.state_from_scontrol(array_line("2-3%2", "PENDING")),
                               slurm.state_from_scontrol(array_line("1", "RUNNING")),
                               slurm.state_from_scontrol(array_line("0", "COMPLETED"))))
    assert not running.finished
    assert running.summary() == "array tasks: 2 PENDING, 1 RUNNING, 1 COMPLETED"
    assert running.tasks[1].stdout == "/shared/.chpc/jobs/exp/out-exp-1_1.txt"
    done = slurm.JobStatus(tuple(slurm.state_from_scontrol(array_line(task, state, code)) for task, state, code in
                                 [("0", "COMPLETED", "0:0"), ("1", "FAILED", "3:0"), ("2", "FAILED", "7:0"),
                                  ("3", "CANCELLED", "0:15")]))
    assert done.finished and done.exit_code == 7 and done.state == "FAILED"
    assert slurm.JobStatus((slurm.state_from_scontrol(line("TIMEOUT", "0:15")),)).exit_code == 1
    single = slurm.JobStatus((slurm.state_from_scontrol(line("RUNNING")),))
    assert single.summary() == "RUNNING on compute-[0-1]"


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
# like `sbatch --parsable`: queue the job (count it, atomically: the test reads it) and print "id;cluster";
# its arguments go to STATE/argv (one per line) and $MSG to STATE/msg, as the job would get them
d=STATE
[ -f "$d/sbatch-fails" ] && { echo "sbatch: error: invalid partition specified: nope" >&2; exit 1; }
n=$(( $(cat "$d/sbatch" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$d/sbatch.$$" && mv "$d/sbatch.$$" "$d/sbatch"
printf '%s\\n' "$@" > "$d/argv"; printf '%s' "${MSG-unset}" > "$d/msg"
sleep "$(cat "$d/sbatch-delay" 2>/dev/null || echo 0)"
while [ -f "$d/sbatch-hold" ]; do sleep 0.05; done  # held until the test lets it answer
echo "$((1000 + n));cluster"
"""

FAKE_SCONTROL = """#!/bin/sh
# `scontrol show job -o ID`: one line in the real format, the state from STATE/state
d=STATE
n=$(( $(cat "$d/scontrol" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/scontrol.$$" && mv "$d/scontrol.$$" "$d/scontrol"
[ -f "$d/hang-once" ] && { rm "$d/hang-once"; while [ ! -f "$d/answer" ]; do sleep 0.05; done; }
[ -f "$d/hang" ] && sleep 10  # a head whose file system hangs: no answer, every time
[ -f "$d/gone" ] && { echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }
down=$(cat "$d/down" 2>/dev/null || echo 0)  # polls left that find slurmctld down
[ "$down" -gt 0 ] && { echo $((down - 1)) > "$d/down"
  echo "slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2; exit 1; }
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
    hold = fakes.state_dir / "sbatch-hold"
    hold.write_text("")
    head = pool.head()
    raised: list[BaseException] = []

    def submit() -> None:
        try:
            slurm.submit(head, str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
        except BaseException as err:  # reported by the assertion below
            raised.append(err)

    thread = threading.Thread(target=submit)
    thread.start()
    _until(lambda: fakes.count("sbatch") == 1)  # sbatch runs on the head, held: drop the connection now
    head.get_transport().close()
    thread.join(timeout=60)
    assert not thread.is_alive() and len(raised) == 1 and isinstance(raised[0], ConnectionLost), raised
    hold.unlink()
    pool.reset("head")
    # sbatch kept running on the head (HUP ignored, own session); the retry waits on the lock for it
    job_id = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    assert job_id == 1001 and fakes.count("sbatch") == 1


def test_arguments_and_environment_reach_sbatch_exactly_and_the_id_finds_the_folder(pool: Pool, fakes: Fakes) -> None:
    index = fakes.job_dir.parent / "by-id"
    tricky = ["a b", "$HOME", "it's", 'say "hi"', "back\\slash", "*"]
    job_id = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", sbatch_args=["--time=5"],
                          script_args=tricky, env={"MSG": 'x "y" $z \'w\''}, index_dir=str(index),
                          path_prefix=fakes.prefix)
    assert (fakes.state_dir / "argv").read_text().splitlines() == ["--parsable", "--time=5", "job.sbatch", *tricky]
    assert (fakes.state_dir / "msg").read_text() == 'x "y" $z \'w\''
    assert (index / str(job_id)).resolve() == fakes.job_dir.resolve()


def test_failed_sbatch_is_reported_and_can_be_retried(pool: Pool, fakes: Fakes) -> None:
    (fakes.state_dir / "sbatch-fails").write_text("")
    with pytest.raises(RemoteError) as caught:
        slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    assert caught.value.step == "sbatch"
    assert caught.value.detail == "Slurm refused job.sbatch: sbatch: error: invalid partition specified: nope"
    (fakes.state_dir / "sbatch-fails").unlink()
    assert slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix) == 1001


# -- job_status / wait --------------------------------------------------------------------------------


def test_job_status_from_scontrol_then_from_the_exit_code_files(pool: Pool, fakes: Fakes) -> None:
    head = pool.head()
    record = JobRecord(str(fakes.job_dir), output_names(False))
    fakes.set_state("FAILED", "2:0")
    status = slurm.job_status(head, 1001, when_forgotten=lambda client: record.ended(client, 1001),
                              path_prefix=fakes.prefix)
    assert (status.state, status.exit_code, status.finished) == ("FAILED", 2, True)
    (fakes.state_dir / "gone").write_text("")
    with pytest.raises(RemoteError) as caught:
        slurm.job_status(head, 1001, path_prefix=fakes.prefix)
    assert "Slurm does not know job 1001" in str(caught.value)
    with pytest.raises(RemoteError) as caught:
        record.ended(head, 1001)
    assert "exitcode is missing" in str(caught.value)
    (fakes.job_dir / "exitcode").write_text("0\n")
    status = slurm.job_status(head, 1001, when_forgotten=lambda client: record.ended(client, 1001),
                              path_prefix=fakes.prefix)
    assert (status.state, status.exit_code, status.finished) == ("COMPLETED", 0, True)
    assert status.tasks[0].stdout == f"{fakes.job_dir}/slurm-1001.out"
    (fakes.job_dir / "exitcode").write_text("3\n")
    assert record.ended(head, 1001).state == "FAILED"


def test_an_array_job_slurm_forgot_ends_with_its_worst_task(pool: Pool, fakes: Fakes) -> None:
    record = JobRecord(str(fakes.job_dir), output_names(True), array=(1, 3, 5))
    for index, code in ((1, 0), (3, 4)):
        (fakes.job_dir / f"exitcode.{index}").write_text(f"{code}\n")
    with pytest.raises(RemoteError) as caught:
        record.ended(pool.head(), 1001)
    assert "exitcode.5 is missing" in str(caught.value)
    (fakes.job_dir / "exitcode.5").write_text("1\n")
    status = record.ended(pool.head(), 1001)
    assert status.finished and status.exit_code == 4
    assert [(task.array_task, task.stdout) for task in status.tasks] == [
        (str(i), f"{fakes.job_dir}/slurm-1001_{i}.out") for i in (1, 3, 5)]
    assert not JobRecord(str(fakes.job_dir), None, exit_files=False).owns(
        slurm.state_from_scontrol(COMPLETED_LINE))  # a job id Slurm gave again, to a job of another folder


def test_wait_reattaches_to_the_same_job(pool: Pool, fakes: Fakes) -> None:
    job_id = slurm.submit(pool.head(), str(fakes.job_dir), "job.sbatch", path_prefix=fakes.prefix)
    first_head = pool.head()
    updates: list[tuple[str, float]] = []
    outcome: dict[str, object] = {}

    def waiter() -> None:
        try:
            outcome["state"] = slurm.wait(pool, job_id, timeout=20, poll=0.1,
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
    assert isinstance(final, slurm.JobStatus) and final.state == "COMPLETED" and final.finished
    assert pool.head() is not first_head
    assert fakes.count("sbatch") == 1  # re-attached, never resubmitted
    assert updates[0][0] == "RUNNING" and updates[-1][0] == "COMPLETED"
    assert [t for _, t in updates] == sorted(t for _, t in updates)


def test_wait_recovers_from_a_silent_poll(pool: Pool, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurm, "POLL_TIMEOUT", 5.0)  # the silent poll never answers; time for others on a busy machine
    first_head = pool.head()
    (fakes.state_dir / "hang-once").write_text("")  # the first poll gets no answer until the test is over
    fakes.set_state("COMPLETED", "0:0")
    try:
        state = slurm.wait(pool, 1001, timeout=60, poll=0.1, path_prefix=fakes.prefix)
    finally:
        (fakes.state_dir / "answer").write_text("")  # lets the silent poll's scontrol end
    assert state.state == "COMPLETED" and fakes.count("scontrol") == 2
    assert pool.head() is not first_head  # the silent connection was replaced


def test_a_poll_that_never_answers_ends_the_wait_naming_the_node_and_what_to_do(
        pool: Pool, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --timeout the wait would otherwise reconnect and poll again forever."""
    monkeypatch.setattr(slurm, "POLL_TIMEOUT", 2.0)  # time enough for each poll to start on a loaded machine
    (fakes.state_dir / "hang").write_text("")
    with pytest.raises(CommandTimeout) as caught:
        slurm.wait(pool, 1001, timeout=None, poll=0.1, path_prefix=fakes.prefix)
    err = caught.value
    assert (err.node, err.step) == ("head", "scontrol") and fakes.count("scontrol") == slurm.HUNG_POLLS
    assert err.detail.startswith("no answer within 2 s running ") and err.detail.endswith(
        f", {slurm.HUNG_POLLS} times in a row on new connections (job 1001 is left as it is)")
    assert "`invoke ssh --node head`" in err.hint and not (fakes.state_dir / "scancelled").exists()


def test_wait_keeps_polling_while_slurmctld_is_down_for_a_while(pool: Pool, fakes: Fakes) -> None:
    (fakes.state_dir / "down").write_text("3")
    fakes.set_state("COMPLETED", "0:0")
    state = slurm.wait(pool, 1001, timeout=20, poll=0.05, path_prefix=fakes.prefix)
    assert state.state == "COMPLETED" and fakes.count("scontrol") == 4


def test_wait_gives_up_when_slurmctld_stays_down(pool: Pool, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurm, "CONTROLLER_GRACE", 0.3)
    (fakes.state_dir / "down").write_text("1000")
    with pytest.raises(SlurmUnanswered) as caught:
        slurm.wait(pool, 1001, timeout=20, poll=0.05, path_prefix=fakes.prefix)
    assert "Unable to contact slurm controller" in caught.value.detail and "slurmctld" in caught.value.hint


def test_wait_timeout_cancels(pool: Pool, fakes: Fakes) -> None:
    with pytest.raises(RemoteError) as caught:
        slurm.wait(pool, 1001, timeout=1.0, poll=0.2, path_prefix=fakes.prefix)
    err = caught.value
    assert err.step == "wait" and "--timeout" in err.hint and "RUNNING" in err.detail
    assert (fakes.state_dir / "scancelled").read_text().split() == ["1001"]


def _until(condition: object, timeout: float = 60.0) -> None:
    """Waits for ``condition``; the timeout only ends a test whose condition never comes."""
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.05)


# -- the batch script ---------------------------------------------------------------------------------


def test_batch_script_lines(tmp_path: Path) -> None:
    script = batch_script(job_name="ring", job_dir="/shared/jobs/ring-1", command=["/shared/jobs/ring-1/ring"],
                          args=["a b", "it's"], nodes=2, ntasks=4, partition="compute", time="0-00:10:00",
                          env_keys=["MSG"], mca={"btl": "self,tcp"})
    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    for expected in ("#SBATCH --job-name=ring", "#SBATCH --nodes=2", "#SBATCH --ntasks=4",
                     "#SBATCH --output=/shared/jobs/ring-1/slurm-%j.out",
                     "#SBATCH --error=/shared/jobs/ring-1/slurm-%j.err",
                     "#SBATCH --chdir=/shared/jobs/ring-1",
                     "#SBATCH --partition=compute", "#SBATCH --time=0-00:10:00", "set -u",
                     "mpirun --mca btl self,tcp -x MSG /shared/jobs/ring-1/ring 'a b' 'it'\"'\"'s'"):
        assert expected in lines, expected
    assert not any(line.startswith("#SBATCH --array") for line in lines)
    array = batch_script(job_name="ring", job_dir="/j", command=["./ring"], nodes=1, ntasks=1, partition="c",
                         time="5", array="0-3%2").splitlines()
    assert "#SBATCH --array=0-3%2" in array and "#SBATCH --output=/j/slurm-%A_%a.out" in array
    with pytest.raises(ValueError):
        batch_script(job_name="ring", job_dir="/a b", command=["x"], nodes=1, ntasks=1, partition="c", time="1")


@pytest.mark.parametrize(("rc", "task"), [(0, None), (3, None), (4, "7")])
def test_batch_script_records_the_exit_code(pool: Pool, fakes: Fakes, rc: int, task: str | None) -> None:
    job_dir = str(fakes.job_dir)
    script = batch_script(job_name="ring", job_dir=job_dir, command=["./ring"], args=["x y"], nodes=1, ntasks=1,
                          partition="compute", time="1")
    head = pool.head()
    files.put_text(head, script, f"{job_dir}/job.sbatch", mode=0o755)
    array_task = f"SLURM_ARRAY_TASK_ID={task} " if task else ""
    result = run(head, f"cd {job_dir} && {array_task}FAKE_RC={rc} PATH={fakes.bin}:$PATH ./job.sbatch", step="job",
                 check=False)
    assert result.exit_code == rc
    assert "arg:./ring\narg:x y\n" in result.stdout
    name = f"exitcode.{task}" if task else "exitcode"
    assert files.get_text(head, f"{job_dir}/{name}").strip() == str(rc)
