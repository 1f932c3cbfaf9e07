"""A job's output shown while it runs: new lines only, nothing twice (also across a dropped connection), array
tasks under their index; read over SFTP from a real sshd standing in for the head."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from remote import job_output
from remote.errors import CommandTimeout, ConnectionLost
from remote.job_output import OutputFile, OutputStreams, files_of
from remote.pool import Pool
from remote.slurm import JobState, JobStatus
from tests.remote.sshd import Cluster, children


class Screen:
    """What the user sees: each write, by stream."""

    def __init__(self) -> None:
        self.writes: dict[str, list[str]] = {"out": [], "err": []}

    def streams(self) -> OutputStreams:
        return OutputStreams(self.writes["out"].append, self.writes["err"].append)

    def text(self, stream: str) -> str:
        return "".join(self.writes[stream])


def task(state: str, stdout: str, stderr: str, array_task: str = "") -> JobState:
    return JobState(state, 0, 0, "compute-0", state == "COMPLETED", array_task=array_task, stdout=stdout,
                    stderr=stderr)


def test_new_whole_lines_show_as_they_come_and_the_rest_at_the_end(pool: Pool, tmp_path: Path) -> None:
    out, err = tmp_path / "slurm-5.out", tmp_path / "slurm-5.err"
    out.write_text("first\nsecond, half")
    err.write_text("")
    screen = Screen()
    streams = screen.streams()
    files = files_of(JobStatus((task("RUNNING", str(out), str(err)),)))
    streams.pull(pool.head(), files)
    assert screen.writes["out"] == ["first\n"]  # the half line waits for its end
    with out.open("a") as handle:
        handle.write(" done\nthird\nno newline at the end")
    err.write_text("an error\n")
    streams.pull(pool.head(), files)
    assert screen.writes["out"] == ["first\n", "second, half done\nthird\n"]
    streams.pull(pool.head(), files)  # nothing new: nothing shown
    streams.pull(pool.head(), files, final=True)
    assert screen.text("out") == "first\nsecond, half done\nthird\nno newline at the end\n"
    assert screen.text("err") == "an error\n"
    assert "".join(streams.shown["out"]) == screen.text("out")


def test_a_dropped_connection_loses_no_line_and_repeats_none(pool: Pool, tmp_path: Path) -> None:
    out = tmp_path / "slurm-6.out"
    out.write_text("one\n")
    screen = Screen()
    streams = screen.streams()
    files = [OutputFile(str(out), "out", "")]
    first = pool.head()
    streams.pull(first, files)
    out.write_text("one\ntwo\n")
    first.get_transport().close()
    with pytest.raises(ConnectionLost):
        streams.pull(first, files)
    pool.reset("head")
    out.write_text("one\ntwo\nthree\n")
    streams.pull(pool.head(), files, final=True)
    assert screen.text("out") == "one\ntwo\nthree\n"


def test_array_tasks_show_under_their_index_and_a_shared_file_once(pool: Pool, tmp_path: Path) -> None:
    merged = {index: tmp_path / f"log-7_{index}.txt" for index in (0, 1)}  # stdout and stderr in one file
    merged[0].write_text("zero a\n")
    merged[1].write_text("one a\n")
    status = JobStatus((task("PENDING", str(tmp_path / "log-7_4294967294.txt"), "", array_task="2-3"),
                        task("RUNNING", str(merged[1]), str(merged[1]), array_task="1"),
                        task("RUNNING", str(merged[0]), str(merged[0]), array_task="0")))
    files = files_of(status)
    assert files == [OutputFile(str(merged[0]), "out", "0"), OutputFile(str(merged[1]), "out", "1")]
    screen = Screen()
    streams = screen.streams()
    streams.pull(pool.head(), files)
    with merged[1].open("a") as handle:
        handle.write("one b\n")
    streams.pull(pool.head(), files, final=True)
    assert screen.text("out") == ("--- array task 0 ---\nzero a\n--- array task 1 ---\none a\n"
                                  "one b\n")
    assert screen.text("err") == ""


def test_an_output_file_the_head_cannot_read_is_named_at_the_end(pool: Pool, tmp_path: Path) -> None:
    missing = tmp_path / "on-a-node-only.out"
    screen = Screen()
    streams = screen.streams()
    streams.pull(pool.head(), [OutputFile(str(missing), "out", "")])
    assert screen.writes["err"] == []  # not written yet, maybe
    streams.pull(pool.head(), [OutputFile(str(missing), "out", "")], final=True)
    assert screen.text("err") == (f"(cannot read {missing} from the head: the job wrote its stdout off the shared "
                                  "file system, or not at all)\n")


def test_an_ended_tasks_file_is_read_to_its_end_once_and_never_again(pool: Pool, tmp_path: Path) -> None:
    done, running = tmp_path / "log-8_0.txt", tmp_path / "log-8_1.txt"
    done.write_text("zero\nlast words")
    running.write_text("one\n")
    status = JobStatus((task("COMPLETED", str(done), str(done), array_task="0"),
                        task("RUNNING", str(running), str(running), array_task="1")))
    screen = Screen()
    streams = screen.streams()
    streams.pull(pool.head(), files_of(status))
    assert screen.text("out") == "--- array task 0 ---\nzero\nlast words\n--- array task 1 ---\none\n"
    done.write_text("zero\nlast words\nwritten by something else later\n")
    streams.pull(pool.head(), files_of(status), final=True)
    assert "later" not in screen.text("out")


def test_a_read_that_gets_no_answer_is_a_timeout_naming_the_node_not_a_dropped_connection(
        pool: Pool, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's SFTP server stops answering (as on a hung file system): the read ends at its deadline, and the
    error says the node may hang, so a follower does not reconnect and read again forever."""
    monkeypatch.setattr(job_output, "SFTP_TIMEOUT", 1.0)
    out = tmp_path / "slurm-8.out"
    out.write_text("one\n")
    streams = Screen().streams()
    files = [OutputFile(str(out), "out", "")]
    streams.pull(pool.client("compute-0"), files)  # the session is open
    sessions = children(cluster.computes[0].proc.pid)  # the sshd serving it: its SFTP runs in-process
    for pid in sessions:
        os.kill(pid, signal.SIGSTOP)
    try:
        out.write_text("one\ntwo\n")
        with pytest.raises(CommandTimeout) as caught:
            streams.pull(pool.client("compute-0"), files)
    finally:
        for pid in sessions:
            os.kill(pid, signal.SIGCONT)
    err = caught.value
    assert (err.node, err.step) == ("compute-0", "read the job's output")
    assert err.detail == f"no answer within 1 s reading {out}" and "`invoke ssh --node compute-0`" in err.hint
