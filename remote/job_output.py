"""A job's output while it runs: the new lines of its output files, read over SFTP on the head's one connection.

Why here and not ``tail -f``: the follower re-attaches after a dropped connection, and a remembered byte offset per
file survives that, so no line is shown twice and none is lost; and the job's end is known from Slurm, not from the
files. Only whole lines are shown while the job runs; what is left without a newline is shown at its end. The lines
of an array job's tasks come under a header naming the task, as ``tail`` heads each file's lines.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paramiko

from remote.deadlines import hung
from remote.errors import CommandTimeout, ConnectionLost
from remote.files import SFTP_TIMEOUT, dropped
from remote.slurm import JobStatus
from remote.ssh import node_of

Writer = Callable[[str], None]


@dataclass(frozen=True)
class OutputFile:
    path: str
    stream: str  # "out" or "err"
    task: str  # the array task's index, "" for a plain job
    ended: bool = False  # its task has ended: read it to its end once more, then never again


def files_of(status: JobStatus) -> list[OutputFile]:
    """The output files of the tasks that have started, array tasks in the order of their indices (a file named
    for stdout and stderr is read once, as stdout: Slurm writes both streams into it)."""
    found: list[OutputFile] = []
    for task in sorted(status.tasks, key=lambda task: int(task.array_task) if task.array_task.isdigit() else -1):
        if task.state == "PENDING" or (task.array_task and not task.array_task.isdigit()):
            continue  # not started: no file yet (a range of tasks is a record of tasks still waiting)
        if task.stdout:
            found.append(OutputFile(task.stdout, "out", task.array_task, task.finished))
        if task.stderr and task.stderr != task.stdout:
            found.append(OutputFile(task.stderr, "err", task.array_task, task.finished))
    return found


@dataclass
class _Progress:
    offset: int = 0
    partial: bytes = b""
    seen: bool = False
    done: bool = False  # read to its end after its task ended


@dataclass
class OutputStreams:
    """Shows each file's new lines through ``out`` / ``err`` and keeps what it showed (``shown``)."""

    out: Writer
    err: Writer
    shown: dict[str, list[str]] = field(default_factory=lambda: {"out": [], "err": []})
    _files: dict[str, _Progress] = field(default_factory=dict)
    _last_task: dict[str, str | None] = field(default_factory=lambda: {"out": None, "err": None})
    _sftp: paramiko.SFTPClient | None = None
    _transport: paramiko.Transport | None = None

    def pull(self, client: paramiko.SSHClient, outputs: Sequence[OutputFile], *, final: bool = False) -> None:
        """Show what the files gained since the last pull; the rest too of a file whose task has ended (then it is
        not read again: a large array's finished tasks cost nothing), and of every file when ``final`` (the job has
        ended). A dropped connection is ``ConnectionLost`` (what was shown stays shown: the next pull goes on from
        there)."""
        sftp = self._session(client)
        for output in outputs:
            progress = self._files.setdefault(output.path, _Progress())
            if progress.done:
                continue
            try:
                data = _read_from(sftp, output.path, progress)
            except (OSError, EOFError, paramiko.SSHException) as err:
                if not dropped(err):  # missing or unreadable from here: not written yet, or off the shared fs
                    continue
                self.close()
                if isinstance(err, TimeoutError):  # the connection may be fine and the shared file system hang
                    raise CommandTimeout(node_of(client), "read the job's output", f"no answer within "
                                         f"{SFTP_TIMEOUT:g} s reading {output.path}", hung(node_of(client))) from err
                raise ConnectionLost(node_of(client), "read the job's output", f"the SSH connection dropped: {err}",
                                     "re-running the task re-attaches to the job") from err
            lines = (progress.partial + data).split(b"\n")
            progress.partial = lines.pop()
            if final or output.ended:
                progress.done = True
                if progress.partial:
                    lines.append(progress.partial)
                    progress.partial = b""
            self._show(output, [line.decode("utf-8", errors="replace") for line in lines])
        if final:
            for output in outputs:
                if not self._files[output.path].seen:
                    self.err(f"(cannot read {output.path} from the head: the job wrote its std{output.stream} "
                             "off the shared file system, or not at all)\n")
            self.close()

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self._sftp, self._transport = None, None

    def _session(self, client: paramiko.SSHClient) -> paramiko.SFTPClient:
        """One SFTP session for the whole follow, opened again on the connection that replaced a dropped one."""
        transport = client.get_transport()
        if self._sftp is None or transport is not self._transport:
            self.close()
            try:
                self._sftp = client.open_sftp()
                self._sftp.get_channel().settimeout(SFTP_TIMEOUT)
            except (paramiko.SSHException, EOFError, OSError) as err:
                raise ConnectionLost(node_of(client), "read the job's output", f"cannot open an SFTP session: {err}",
                                     "re-running the task re-attaches to the job") from err
            self._transport = transport
        return self._sftp

    def _show(self, output: OutputFile, lines: list[str]) -> None:
        if not lines:
            return
        write = self.out if output.stream == "out" else self.err
        text = "".join(f"{line}\n" for line in lines)
        if output.task and self._last_task[output.stream] != output.task:
            text = f"--- array task {output.task} ---\n" + text
        self._last_task[output.stream] = output.task
        self.shown[output.stream].append(text)
        write(text)


def _read_from(sftp: paramiko.SFTPClient, path: str, progress: _Progress) -> bytes:
    """The bytes of ``path`` after ``progress.offset`` (from the start again if the file was truncated, as a
    requeued job's is)."""
    attrs = sftp.stat(path)
    progress.seen = True
    size = attrs.st_size or 0
    if not stat.S_ISREG(attrs.st_mode or 0):  # /dev/null, say
        return b""
    if size < progress.offset:
        progress.offset, progress.partial = 0, b""
    if size == progress.offset:
        return b""
    with sftp.open(path, "rb") as handle:
        handle.seek(progress.offset)
        handle.prefetch(size)
        data = handle.read(size - progress.offset)
    progress.offset += len(data)
    return data
