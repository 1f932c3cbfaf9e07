"""The Slurm job lifecycle on the head node: write the batch script, submit once, poll, re-attach.

Every call goes through ``run``/``files`` on the head client, so it works the same on every target.
The job directory is the job's identity: ``submit`` records the job id in ``JOBDIR/jobid`` under a lock,
so a retried submit (after a dropped connection) returns the same job instead of running it twice, and
``wait`` re-attaches to that id after reconnecting.

``path_prefix`` (optional, every function) is prepended to ``PATH`` on the head for these commands:
for Slurm installed outside the non-login PATH (e.g. ``/opt/slurm/bin``), and for tests with fake
``sbatch``/``scontrol`` scripts.
"""

from __future__ import annotations

import math
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import paramiko

from remote import files
from remote.errors import CommandTimeout, ConnectionLost, RemoteError
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
# ... or because slurmctld is briefly unreachable (keep polling for this long).
CONTROLLER_GRACE = 60.0


@dataclass(frozen=True)
class JobState:
    state: str
    exit_code: int
    signal: int
    node_list: str
    finished: bool
    reason: str = ""


def _path(path_prefix: str | None) -> str:
    return f'export PATH={shlex.quote(path_prefix)}:"$PATH"; ' if path_prefix else ""


# -- batch script ---------------------------------------------------------------------------------------


def slurm_time(seconds: float) -> str:
    """A Slurm ``--time`` value (``D-HH:MM:SS``), rounded up to whole minutes."""
    minutes = max(1, math.ceil(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00"


def batch_script(
    *,
    job_name: str,
    job_dir: str,
    program: str,
    args: Sequence[str] = (),
    nodes: int,
    ntasks: int,
    partition: str,
    timeout: float,
    mca: Mapping[str, str] | None = None,
    mpirun_args: Sequence[str] = (),
) -> str:
    """An sbatch script that runs ``mpirun [--mca K V ...] [mpirun_args] program args...`` in ``job_dir``.

    Contract with :func:`job_state`: the script writes mpirun's exit code to ``JOBDIR/exitcode`` (via a
    temp file and rename) before exiting with it, so the result is known even after slurmctld has
    forgotten the job. ``partition`` is the outputs' ``slurm_partition``; ``timeout`` (seconds) becomes
    ``--time``. ``job_dir`` and ``job_name`` must not contain whitespace (``#SBATCH`` lines are not
    shell-parsed).
    """
    for label, value in (("job_dir", job_dir), ("job_name", job_name), ("partition", partition)):
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(f"{label} must be non-empty and contain no whitespace: {value!r}")
    mpirun = ["mpirun"]
    for key, value in (mca or {}).items():
        mpirun += ["--mca", key, value]
    mpirun += [*mpirun_args, program, *args]
    exitcode = shlex.quote(f"{job_dir}/exitcode")
    return "\n".join([
        "#!/bin/sh",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --ntasks={ntasks}",
        f"#SBATCH --output={job_dir}/slurm-%j.out",
        f"#SBATCH --error={job_dir}/slurm-%j.err",
        f"#SBATCH --chdir={job_dir}",
        f"#SBATCH --partition={partition}",
        f"#SBATCH --time={slurm_time(timeout)}",
        "# Written by remote.slurm.batch_script. The exit code goes to JOBDIR/exitcode so the toolkit",
        "# knows the result even after Slurm has forgotten the job.",
        "set -u",
        'if [ "$(id -u)" = 0 ]; then',
        "  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
        "fi",
        shlex.join(mpirun),
        "rc=$?",
        f'echo "$rc" > {exitcode}.tmp && mv {exitcode}.tmp {exitcode}',
        'exit "$rc"',
        "",
    ])


# -- submit ---------------------------------------------------------------------------------------------


def submit_command(job_dir: str, script_name: str, *, path_prefix: str | None = None) -> str:
    """The shell command :func:`submit` runs on the head (exposed for review and tests)."""
    inner = (
        "[ -s jobid ] || { sbatch --parsable "
        f"{shlex.quote(script_name)} > jobid.tmp 2> submit.err && mv jobid.tmp jobid; }}"
    )
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
    client: paramiko.SSHClient, job_dir: str, script_name: str, *, path_prefix: str | None = None
) -> int:
    """Submit ``JOBDIR/SCRIPT`` once; calling it again for the same ``job_dir`` returns the same job id.

    Concurrent or repeated calls serialize on ``JOBDIR/.submit.lock``; the first records the id in
    ``JOBDIR/jobid`` and later ones just read it. To submit the job again, use a new job directory.
    """
    node = node_of(client)
    result = run(client, submit_command(job_dir, script_name, path_prefix=path_prefix), node=node,
                 step="sbatch", check=False)
    if result.exit_code != 0:
        shown = tail(result.stderr) or tail(result.stdout) or "(no output)"
        raise RemoteError(node, "sbatch", f"submitting {job_dir}/{script_name} failed "
                          f"(exit {result.exit_code}):\n{shown}",
                          "check the partition and the #SBATCH lines; `sinfo` on the head shows the nodes")
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
    )


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0


def state_from_exitcode(text: str) -> JobState:
    """The final state of a job Slurm no longer knows, from the ``exitcode`` file its script wrote."""
    code = int(text.strip())
    return JobState(state="COMPLETED" if code == 0 else "FAILED", exit_code=code, signal=0, node_list="",
                    finished=True, reason="from exitcode file")


def job_state(
    client: paramiko.SSHClient,
    job_id: int,
    job_dir: str | None = None,
    *,
    path_prefix: str | None = None,
    timeout: float | None = POLL_TIMEOUT,
) -> JobState:
    """The job's state from ``scontrol show job -o ID``.

    When slurmctld no longer knows the job ("Invalid job id", e.g. after MinJobAge), the state comes
    from ``JOBDIR/exitcode``, which the script of :func:`batch_script` writes when mpirun returns
    (0 -> COMPLETED, else FAILED). A job that is gone without that file raises RemoteError.
    """
    node = node_of(client)
    result = run(client, f"{_path(path_prefix)}scontrol show job -o {int(job_id)}", node=node,
                 step="scontrol", check=False, timeout=timeout)
    line = next((ln for ln in result.stdout.splitlines() if "JobState=" in ln), None)
    if result.exit_code == 0 and line is not None:
        return state_from_scontrol(line)
    output = (result.stderr + result.stdout).strip()
    if "invalid job id" not in output.lower():
        raise RemoteError(node, "scontrol", f"scontrol show job {job_id} failed (exit {result.exit_code}): "
                          f"{tail(output, 5) or '(no output)'}",
                          "check that slurmctld is running on the head (`systemctl status slurmctld`)")
    if job_dir is None:
        raise RemoteError(node, "scontrol", f"Slurm no longer knows job {job_id}",
                          "pass the job directory so the exitcode file can be read")
    try:
        return state_from_exitcode(files.get_text(client, f"{job_dir}/exitcode", node=node))
    except RemoteError as err:
        if isinstance(err, ConnectionLost):
            raise
        raise RemoteError(node, "scontrol", f"Slurm no longer knows job {job_id} and {job_dir}/exitcode is "
                          "missing: the job ended without its script finishing",
                          f"look at {job_dir}/slurm-{job_id}.out and .err on the head") from err
    except ValueError as err:
        raise RemoteError(node, "scontrol", f"{job_dir}/exitcode does not hold an exit code",
                          f"look at {job_dir}/slurm-{job_id}.out and .err on the head") from err


def cancel(client: paramiko.SSHClient, job_id: int, *, path_prefix: str | None = None) -> None:
    """``scancel`` the job (a job that already ended is not an error)."""
    run(client, f"{_path(path_prefix)}scancel {int(job_id)}", node=node_of(client), step="scancel",
        check=False)


# -- wait -----------------------------------------------------------------------------------------------


def wait(
    pool: Pool,
    job_id: int,
    job_dir: str,
    *,
    timeout: float,
    on_update: Callable[[JobState, float], None] | None = None,
    poll: float = 1.0,
    path_prefix: str | None = None,
) -> JobState:
    """Poll job ``job_id`` until it finishes; return its final state.

    ``on_update(state, elapsed_seconds)`` is called after every poll. If the SSH connection drops (or a
    poll gets no answer for ``POLL_TIMEOUT``), the head connection is reset and reopened (``ssh.connect``
    backs off while the head is unreachable, up to the pool's deadline) and polling resumes for the SAME
    job id; the job is never resubmitted. After ``timeout`` seconds the job is cancelled and a
    RemoteError (step "wait") is raised.
    """
    head = pool.head_name()
    start = time.monotonic()
    controller_down_since: float | None = None
    last: JobState | None = None
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= timeout:
            _cancel_quietly(pool, job_id, path_prefix)
            state = f" (last state {last.state})" if last else ""
            raise RemoteError(
                head, "wait", f"job {job_id} did not finish within {timeout:g}s{state}; it was cancelled",
                f"run again with a larger --timeout; the output so far is in {job_dir} on the head",
            )
        try:
            state = job_state(pool.head(), job_id, job_dir, path_prefix=path_prefix, timeout=POLL_TIMEOUT)
        except _DROPPED:
            pool.reset(head)
            time.sleep(min(poll, 1.0))
            continue
        except RemoteError as err:
            if err.step != "scontrol" or "slurmctld" not in err.hint:
                raise
            controller_down_since = controller_down_since or time.monotonic()
            if time.monotonic() - controller_down_since > CONTROLLER_GRACE:
                raise
            time.sleep(poll)
            continue
        controller_down_since = None
        last = state
        if on_update is not None:
            on_update(state, time.monotonic() - start)
        if state.finished:
            return state
        time.sleep(max(0.0, min(poll, timeout - (time.monotonic() - start))))


def _cancel_quietly(pool: Pool, job_id: int, path_prefix: str | None) -> None:
    try:
        cancel(pool.head(), job_id, path_prefix=path_prefix)
    except (RemoteError, *_DROPPED):
        pass  # the timeout error below matters more; the job's own --time limit still applies
