"""Run a PySpark script on the local target's Spark standalone cluster, over the pool's one connection.

The script, its input and its output live in a job folder on the shared file system, which the driver
(on the head, client mode) and every executor (on the compute nodes) see at the same path. spark-submit
runs detached on the head with its pid and exit code recorded in the job folder, so a dropped connection
re-attaches to the same run instead of submitting it again. The script's arguments follow the rule of
remote/spark_args.py, as on every target. On failure the cause (the Python traceback, a usage line or the Java
exception) is read out of the job's output, mrjob-style.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from remote import files
from remote.errors import BadInput, CommandTimeout, ConnectionLost, RemoteError
from remote.mpi_job import new_job_dir, require_shared
from remote.pool import Pool
from remote.progress import progress
from remote.run import run
from remote.spark_args import check_args, script_args
from remote.spark_failure import failure_cause, quiet_tail

# Written on the head by ansible/roles/spark: spark-submit with the cluster's Java, Spark and Python.
SPARK_SUBMIT = "/run/spark/spark-submit"
POLL_TIMEOUT = 60.0
_DROPPED = (ConnectionLost, CommandTimeout, OSError, EOFError)
_PROGRESS = re.compile(r"Finished task \S+ in stage (\S+) .*\((\d+)/(\d+)\)\s*$")


@dataclass(frozen=True)
class SparkResult:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    output_dir: str | None  # the local folder the results were copied to, else where they are
    cause: str = ""  # on failure: the Python traceback, a usage line or the Java exception
    job_dir: str = ""


def is_uri(location: str | None) -> bool:
    return location is not None and "://" in location


def submit_local(pool: Pool, script: Path, *, shared_mount: str, master: str, input: str | None,
                 output: str | None, args: Sequence[str], timeout: float, console: Console) -> SparkResult:
    """Upload, spark-submit on the head, follow, fetch: the whole run. The job's exit code is in the result.

    A local ``input`` (file or folder) is uploaded to the job folder and a URI is passed as it is; a local
    ``output`` folder receives the results when the job succeeds, and without ``output`` they stay in the
    job folder. ``args`` become the script's arguments by remote.spark_args.script_args.
    """
    check_args(args, input_given=input is not None, output_given=output is not None)
    _check_local(script, input, output)
    require_shared(pool, shared_mount)
    head, client = pool.head_name(), pool.head()
    if not files.exists(client, SPARK_SUBMIT):
        raise RemoteError(head, "check spark", f"{SPARK_SUBMIT} does not exist: no Spark cluster was set up here",
                          "give the spec a spark section (spark: {}) and run `invoke up` with it")
    job_dir = new_job_dir(client, shared_mount, script.stem)
    files.mkdir_p(client, f"{job_dir}/input")
    files.put(client, script, f"{job_dir}/{script.name}", mode=0o644)
    source = input if input is None or is_uri(input) else _upload(pool, Path(input), f"{job_dir}/input")
    target = output if is_uri(output) else f"{job_dir}/output"
    arguments = script_args(args, input=source, output=None if output is None else target,
                            job_input=f"{job_dir}/input", job_output=f"{job_dir}/output")
    argv = [SPARK_SUBMIT, "--master", master, "--deploy-mode", "client", f"{job_dir}/{script.name}", *arguments]
    files.put_text(client, run_script(job_dir, argv), f"{job_dir}/run.sh", mode=0o755)
    pid = _start(pool, job_dir)
    console.print(f"submitted spark job {shlex.join([script.name, *arguments])} to {master} (pid {pid} on "
                  f"{head}); folder {job_dir}", markup=False, soft_wrap=True)
    started = time.monotonic()
    with progress(console, "spark job: starting") as update:
        code = _wait(pool, job_dir, pid, timeout,
                     lambda state: update(f"spark job {script.stem}: {state}, {time.monotonic() - started:.0f} s",
                                          key=state))
    stdout, stderr = _read(pool, f"{job_dir}/stdout"), _read(pool, f"{job_dir}/stderr")
    where = target
    if code == 0 and output is not None and not is_uri(output):
        _download(pool, target, Path(output))
        where = output
    # the driver's Python writes its traceback to spark-submit's stdout, the JVM's exception goes to stderr
    cause = (failure_cause(stdout, stderr) or quiet_tail(stdout, stderr)
             or f"spark-submit exited with {code} and printed no error; look at {job_dir}/stderr on {head}"
             ) if code else ""
    return SparkResult(code, stdout, stderr, time.monotonic() - started, where, cause, job_dir)


def _check_local(script: Path, input: str | None, output: str | None) -> None:
    """What can be wrong on this machine is said before anything is uploaded."""
    if not script.is_file():
        raise BadInput(f"--script {str(script)!r}: not a file here; pass --script PATH")
    if input is not None and not is_uri(input) and not Path(input).exists():
        raise BadInput(f"--input {input!r}: does not exist on this machine; pass a local file or folder, or a URI "
                       "(file:///shared/..., s3://...)")
    if output is not None and not is_uri(output) and Path(output).exists() and any(Path(output).iterdir()):
        raise BadInput(f"--output {output!r}: exists and is not empty; name a new or empty folder: results are not "
                       "mixed with older ones")


def run_script(job_dir: str, argv: Sequence[str]) -> str:
    """The job's launcher. Contract with :func:`_wait`: the exit code goes to JOBDIR/exitcode at the end."""
    return "\n".join([
        "#!/bin/sh",
        "# Written by remote.spark_job: spark-submit once, its output in stdout/stderr, its exit code in exitcode.",
        f"cd {shlex.quote(job_dir)} || exit 1",
        f"{shlex.join(argv)} > stdout 2> stderr < /dev/null",
        "rc=$?",
        'echo "$rc" > exitcode.tmp && mv exitcode.tmp exitcode',
        'exit "$rc"',
        "",
    ])


def _start(pool: Pool, job_dir: str) -> int:
    """Start run.sh detached, once per job folder (a repeated call returns the same pid)."""
    inner = "[ -s pid ] || { setsid sh run.sh < /dev/null > /dev/null 2>&1 & echo $! > pid.tmp && mv pid.tmp pid; }"
    # as in slurm.submit_command: HUP/PIPE ignored and a new session, so a dropped SSH connection cannot
    # kill the launcher between "started" and "pid recorded"; -o: the job itself does not hold the lock
    command = (f"cd {shlex.quote(job_dir)} && trap '' HUP PIPE && "
               f"setsid -w flock -o .submit.lock sh -c {shlex.quote(inner)} && cat pid")
    result = run(pool.head(), command, node=pool.head_name(), step="spark-submit")
    return int(result.stdout.split()[-1])


def _poll_command(job_dir: str, pid: int) -> str:
    done = 'echo "exit $(cat exitcode)"'
    return (f"cd {shlex.quote(job_dir)} && {{ if [ -s exitcode ]; then {done}; elif kill -0 {pid} 2>/dev/null; "
            f"then echo running; elif [ -s exitcode ]; then {done}; else echo gone; fi; "
            "grep -h 'Finished task' stderr 2>/dev/null | tail -n 1; }")


def progress_of(line: str) -> str:
    """``stage 1.0: 3/8 tasks`` from a TaskSetManager line, else ``running``."""
    match = _PROGRESS.search(line)
    return f"stage {match.group(1)}: {match.group(2)}/{match.group(3)} tasks" if match else "running"


def _wait(pool: Pool, job_dir: str, pid: int, timeout: float, show: Callable[[str], None]) -> int:
    """Poll until the exit code is written; reconnect on a dropped connection; kill the run on timeout."""
    head = pool.head_name()
    start = time.monotonic()
    client = pool.head()
    while time.monotonic() - start < timeout:
        try:
            current = pool.head()
            if current is not client:  # the pool found the connection dead and made a new one
                client = current
                show("the connection dropped, re-attaching to the running job")  # its pid is known: never resubmitted
            lines = run(client, _poll_command(job_dir, pid), node=head, step="follow spark job",
                        timeout=POLL_TIMEOUT).stdout.splitlines()
        except _DROPPED:
            pool.reset(head)
            time.sleep(1)
            continue
        state = lines[0] if lines else ""
        if state.startswith("exit "):
            return int(state.split()[1])
        if state == "gone":
            raise RemoteError(head, "follow spark job", f"spark-submit (pid {pid}) ended without an exit code",
                              f"the head may have restarted; look at {job_dir}/stderr on the head")
        show(progress_of(lines[1] if len(lines) > 1 else ""))
        time.sleep(1)
    run(pool.head(), f"kill -TERM -- -{pid}", node=head, step="stop spark job", check=False)
    raise RemoteError(head, "follow spark job", f"the job did not finish within {timeout:g}s; it was stopped",
                      f"run again with a larger --timeout; its output so far is in {job_dir} on the head")


def _upload(pool: Pool, local: Path, remote_parent: str) -> str:
    """Copy a file or a folder into ``remote_parent``; returns the remote path of what was copied."""
    client = pool.head()
    remote = f"{remote_parent}/{local.name}"
    if local.is_file():  # 0644: the executors read it, whoever they run as
        files.put(client, local, remote, mode=0o644)
    else:
        files.put_files(client, local, remote, mode=0o644)
    return remote


def _download(pool: Pool, remote: str, local: Path) -> None:
    """Copy the result folder here, without Hadoop's ``.crc`` checksum files."""
    head, client = pool.head_name(), pool.head()
    listing = run(client, ["find", remote, "-type", "f", "!", "-name", ".*.crc", "-printf", "%P\\0"],
                  node=head, step="list results").stdout.split("\0")  # NUL: a name may hold a newline
    files.get_files(client, remote, [relative for relative in listing if relative], local, node=head)


def _read(pool: Pool, path: str) -> str:
    try:
        return files.get_text(pool.head(), path)
    except RemoteError:
        return ""
