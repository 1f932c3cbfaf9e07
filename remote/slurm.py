"""The Slurm job lifecycle on the head node: submit once, poll, re-attach.

Every call goes through ``run`` on the head client, so it works the same on every target.
The job directory is the job's identity: ``submit`` records the job id in ``JOBDIR/jobid`` under a lock,
so a retried submit (after a dropped connection) returns the same job instead of running it twice, and
``wait`` re-attaches to that id after reconnecting. An array job is one id whose tasks ``scontrol`` lists one
per line; its status is theirs together (done when each is, its exit code the worst).

``path_prefix`` (optional, every function) is prepended to ``PATH`` on the head for these commands:
for Slurm installed outside the non-login PATH (e.g. ``/opt/slurm/bin``), and for tests with fake
``sbatch``/``scontrol`` scripts.
"""

from __future__ import annotations

import re
import shlex
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import paramiko

from remote.errors import BadInput, CommandTimeout, ConnectionLost, RemoteError, SlurmUnanswered
from remote.job_flags import parse_array
from remote.pool import Pool
from remote.run import run, tail
from remote.ssh import node_of

FINISHED_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
    "PREEMPTED", "REVOKED", "SPECIAL_EXIT",
})
# A poll on the head can fail because the connection dropped or went silent (reconnect) ...
_DROPPED = (ConnectionLost, CommandTimeout, paramiko.SSHException, EOFError, OSError)
POLL_TIMEOUT = 60.0
# A poll with no answer on a new connection each time, this many times in a row, is a head that hangs (a file
# system the poll or the output read touches), not a network that dropped: say so instead of polling forever.
HUNG_POLLS = 3
# ... or because slurmctld is briefly unreachable (keep polling for this long).
CONTROLLER_GRACE = 60.0
# The first polls come sooner (0.25 s, 0.5 s, ... up to ``poll``): a short job is seen to end soon after it does.
FIRST_POLL = 0.25
ROOT_MPI = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
SLURM_MESSAGE_LINES = 5  # of sbatch's error output, in the one line that says why Slurm refused a job


@dataclass(frozen=True)
class JobState:
    """One job, or one array task (``array_task`` its index; a range such as ``2-5%2`` for tasks still pending
    together), as ``scontrol`` tells it; ``stdout``/``stderr`` are its output files, patterns expanded."""

    state: str
    exit_code: int
    signal: int
    node_list: str
    finished: bool
    reason: str = ""
    array_task: str = ""
    stdout: str = ""
    stderr: str = ""
    command: str = ""

    @property
    def code(self) -> int:
        """The exit code this ending gives: the job's own, or 1 for one that ended without one (cancelled, timed
        out, its node lost)."""
        if self.exit_code:
            return self.exit_code
        return 0 if self.state == "COMPLETED" else 1


@dataclass(frozen=True)
class JobStatus:
    """A job's tasks (one for a plain job): finished when each is; its exit code is the worst task's."""

    tasks: tuple[JobState, ...]

    @property
    def finished(self) -> bool:
        return all(task.finished for task in self.tasks)

    @property
    def exit_code(self) -> int:
        return max(task.code for task in self.tasks)

    @property
    def state(self) -> str:
        """The state of the worst task (of the job, for a plain job)."""
        return max(self.tasks, key=lambda task: task.code).state

    def summary(self) -> str:
        """``RUNNING on compute-[0-1]`` for a job; for an array, how many tasks are in each state."""
        if len(self.tasks) == 1 and not self.tasks[0].array_task:
            task = self.tasks[0]
            return task.state + (f" on {task.node_list}" if task.node_list else "")
        counts: Counter[str] = Counter()
        for task in self.tasks:
            counts[task.state] += _task_count(task.array_task)
        return "array tasks: " + ", ".join(f"{n} {state}" for state, n in counts.items())


def _task_count(array_task: str) -> int:
    try:
        return len(parse_array(array_task).indices)
    except BadInput:
        return 1


def _path(path_prefix: str | None) -> str:
    return f'export PATH={shlex.quote(path_prefix)}:"$PATH"; ' if path_prefix else ""


# -- submit ---------------------------------------------------------------------------------------------


def submit_command(job_dir: str, script_name: str, *, sbatch_args: Sequence[str] = (),
                   script_args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                   index_dir: str | None = None, path_prefix: str | None = None) -> str:
    """The shell command :func:`submit` runs on the head (exposed for review and tests)."""
    sbatch = ["sbatch", "--parsable", *sbatch_args, script_name, *script_args]
    if env:  # through sbatch's environment, which Slurm hands to the job: values reach it exactly, never parsed
        sbatch = ["env", *(f"{key}={value}" for key, value in env.items()), *sbatch]
    inner = f"[ -s jobid ] || {{ {shlex.join(sbatch)} > jobid.tmp 2> submit.err && mv jobid.tmp jobid; }}"
    # as root (the local target), Open MPI starts only when told it may: told for every job, a user's script too
    inner = f"{{ [ \"$(id -u)\" != 0 ] || export {ROOT_MPI}; }}; {inner}"
    if index_dir is not None:  # under the lock too, and again on a retry: the link always names this folder
        index = shlex.quote(index_dir)
        inner = (f"{{ {inner}; }} && mkdir -p {index} && "
                 f"ln -sfn {shlex.quote(job_dir)} {index}/\"$(cut -d';' -f1 jobid | tr -dc 0-9)\"")
    # HUP/PIPE are ignored (and inherited by flock, sh and sbatch) and setsid detaches from the SSH
    # session: a connection dropped mid-submit cannot kill sbatch between "job queued" and "id recorded".
    return (
        f"{_path(path_prefix)}cd {shlex.quote(job_dir)} && trap '' HUP PIPE && "
        f"{{ setsid -w flock .submit.lock sh -c {shlex.quote(inner)} < /dev/null "
        "|| { cat submit.err >&2; exit 1; }; } && cat jobid"
    )


def parse_job_id(text: str) -> int:
    """The job id from ``sbatch --parsable`` output: ``ID`` or ``ID;CLUSTER`` (last non-empty line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty sbatch output")
    return int(lines[-1].split(";", 1)[0])


def submit(
    client: paramiko.SSHClient, job_dir: str, script_name: str, *, sbatch_args: Sequence[str] = (),
    script_args: Sequence[str] = (), env: Mapping[str, str] | None = None, index_dir: str | None = None,
    path_prefix: str | None = None,
) -> int:
    """Submit ``JOBDIR/SCRIPT`` once (``sbatch [sbatch_args] SCRIPT [script_args]``, ``env`` added to its
    environment); calling it again for the same ``job_dir`` returns the same job id.

    Concurrent or repeated calls serialize on ``JOBDIR/.submit.lock``; the first records the id in
    ``JOBDIR/jobid`` and later ones just read it. To submit the job again, use a new job directory. With
    ``index_dir``, ``INDEX_DIR/ID`` links to the job folder, so the job is found from its id alone.
    """
    node = node_of(client)
    command = submit_command(job_dir, script_name, sbatch_args=sbatch_args, script_args=script_args, env=env,
                             index_dir=index_dir, path_prefix=path_prefix)
    result = run(client, command, node=node, step="sbatch", check=False)
    if result.exit_code != 0:
        said = tail(result.stderr, SLURM_MESSAGE_LINES) or tail(result.stdout, SLURM_MESSAGE_LINES)
        raise RemoteError(node, "sbatch", f"Slurm refused {script_name}: "
                          + ("; ".join(said.splitlines()) or f"sbatch exited with {result.exit_code}"),
                          "fix what Slurm names (an #SBATCH line, a flag, the partition); `sinfo` on the head "
                          "shows partitions and nodes")
    try:
        return parse_job_id(result.stdout)
    except ValueError as err:
        raise RemoteError(node, "sbatch", f"cannot read a job id from {result.stdout.strip()!r}",
                          f"look at {job_dir}/jobid and {job_dir}/submit.err on the head") from err


# -- state ----------------------------------------------------------------------------------------------

_FIELD = re.compile(r"(?:^|\s)([A-Za-z][\w:/.\-]*)=")


def parse_scontrol(line: str) -> dict[str, str]:
    """Split one ``scontrol show job -o`` line into its ``Key=Value`` fields (values may hold spaces)."""
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(line))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(line)
        fields.setdefault(match.group(1), line[match.end():end].strip())
    return fields


def state_from_scontrol(line: str) -> JobState:
    """The JobState of one ``scontrol show job -o`` line."""
    fields = parse_scontrol(line)
    if "JobState" not in fields:
        raise ValueError(f"no JobState in scontrol output: {line[:200]!r}")
    raw = fields["JobState"]
    match = re.match(r"[A-Z_]+", raw)  # drop flags such as a trailing "+"
    state = match.group(0) if match else raw
    code, _, sig = fields.get("ExitCode", "0:0").partition(":")
    node_list = fields.get("NodeList", "")
    if node_list in ("(null)", "None"):
        node_list = ""
    return JobState(
        state=state,
        exit_code=_int(code),
        signal=_int(sig),
        node_list=node_list,
        finished=state in FINISHED_STATES,
        reason=fields.get("Reason", ""),
        array_task=fields.get("ArrayTaskId", ""),
        stdout=fields.get("StdOut", ""),
        stderr=fields.get("StdErr", ""),
        command=fields.get("Command", ""),
    )


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0


Forgotten = Callable[[paramiko.SSHClient], JobStatus]


def job_status(
    client: paramiko.SSHClient,
    job_id: int,
    *,
    when_forgotten: Forgotten | None = None,
    path_prefix: str | None = None,
    timeout: float | None = POLL_TIMEOUT,
) -> JobStatus:
    """The job's tasks from ``scontrol show job -o ID`` (one line each).

    When slurmctld no longer knows the job ("Invalid job id", after MinJobAge), ``when_forgotten(client)`` says
    how it ended (from what the job left in its folder); without it, that is a RemoteError.
    """
    node = node_of(client)
    result = run(client, f"{_path(path_prefix)}scontrol show job -o {int(job_id)}", node=node,
                 step="scontrol", check=False, timeout=timeout)
    lines = [ln for ln in result.stdout.splitlines() if "JobState=" in ln]
    if result.exit_code == 0 and lines:
        return JobStatus(tuple(state_from_scontrol(line) for line in lines))
    output = (result.stderr + result.stdout).strip()
    if "invalid job id" not in output.lower():
        raise SlurmUnanswered(node, "scontrol", f"scontrol show job {job_id} failed (exit {result.exit_code}): "
                              f"{tail(output, 5) or '(no output)'}",
                              "check that slurmctld is running on the head (`systemctl status slurmctld`)")
    if when_forgotten is None:
        raise RemoteError(node, "scontrol", f"Slurm does not know job {job_id}, and no toolkit job folder "
                          "records it", "check the job id (`squeue` on the head lists the jobs Slurm knows)")
    return when_forgotten(client)


def cancel(client: paramiko.SSHClient, job_id: int, *, path_prefix: str | None = None) -> None:
    """``scancel`` the job (a job that already ended is not an error)."""
    run(client, f"{_path(path_prefix)}scancel {int(job_id)}", node=node_of(client), step="scancel",
        check=False)


# -- wait -----------------------------------------------------------------------------------------------


def wait(
    pool: Pool,
    job_id: int,
    *,
    timeout: float | None,
    on_update: Callable[[JobStatus, float], None] | None = None,
    when_forgotten: Forgotten | None = None,
    poll: float = 1.0,
    path_prefix: str | None = None,
) -> JobStatus:
    """Poll job ``job_id`` until it finishes (every ``poll`` seconds, sooner at first); return its final status.

    ``on_update(status, elapsed_seconds)`` is called after every poll (also for the final status), on the same
    connection: if the SSH connection drops in a poll or in ``on_update`` (or a poll gets no answer for
    ``POLL_TIMEOUT``), the head connection is reset and reopened (``ssh.connect`` backs off while the head is
    unreachable, up to the pool's deadline) and polling resumes for the SAME job id; the job is never
    resubmitted; ``HUNG_POLLS`` polls in a row with no answer raise that ``CommandTimeout``. With a ``timeout``
    (seconds), the job is then cancelled and a RemoteError (step "wait") raised; without, the job's own time limit
    ends it.
    """
    head = pool.head_name()
    start = time.monotonic()
    controller_down_since: float | None = None
    last: JobStatus | None = None
    polls = hung = 0
    while True:
        elapsed = time.monotonic() - start
        if timeout is not None and elapsed >= timeout:
            _cancel_quietly(pool, job_id, path_prefix)
            state = f" (last state {last.summary()})" if last else ""
            raise RemoteError(
                head, "wait", f"job {job_id} did not finish within {timeout:g}s{state}; it was cancelled",
                "run again with a larger --timeout, or none (the job's --time limit ends it)",
            )
        try:
            status = job_status(pool.head(), job_id, when_forgotten=when_forgotten, path_prefix=path_prefix,
                                timeout=POLL_TIMEOUT)
            controller_down_since = None
            last = status
            if on_update is not None:
                on_update(status, time.monotonic() - start)
            hung = 0
        except CommandTimeout as err:
            hung += 1
            if hung == HUNG_POLLS:
                raise CommandTimeout(err.node, err.step, f"{err.detail}, {hung} times in a row on new connections "
                                     f"(job {job_id} is left as it is)", err.hint) from err
            pool.reset(head)
            time.sleep(min(poll, 1.0))
            continue
        except _DROPPED:
            pool.reset(head)
            time.sleep(min(poll, 1.0))
            continue
        except SlurmUnanswered:
            controller_down_since = controller_down_since or time.monotonic()
            if time.monotonic() - controller_down_since > CONTROLLER_GRACE:
                raise
            time.sleep(poll)
            continue
        if status.finished:
            return status
        polls += 1
        interval = min(poll, FIRST_POLL * polls)
        left = interval if timeout is None else min(interval, timeout - (time.monotonic() - start))
        time.sleep(max(0.0, left))


def _cancel_quietly(pool: Pool, job_id: int, path_prefix: str | None) -> None:
    try:
        cancel(pool.head(), job_id, path_prefix=path_prefix)
    except (RemoteError, *_DROPPED):
        pass  # the timeout error below matters more; the job's own --time limit still applies
