"""Follow a Slurm job to its end: its state as progress, its output as it comes, its exit code at the end.

The same follow serves a job just submitted and one named by its id alone (``invoke job --id``, perhaps from
another machine, perhaps after the submitting connection dropped): what it needs is read on the cluster, from
Slurm while it knows the job and from the job's record in its folder after (``remote/job_record.py``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from rich.console import Console

from remote import job_record, slurm
from remote.job_output import OutputStreams, Writer, files_of
from remote.job_record import JobRecord
from remote.pool import Pool
from remote.progress import progress


@dataclass(frozen=True)
class JobResult:
    """``exit_code``: the job's (the worst array task's), 1 for a job that ended without one (cancelled, timed
    out); ``stdout``/``stderr``: what was shown of its output."""

    job_id: int
    state: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


def follow(pool: Pool, job_id: int, record: JobRecord | None, *, timeout: float | None, console: Console,
           out: Writer | None = None, err: Writer | None = None, poll: float = 1.0) -> JobResult:
    """Follow job ``job_id`` until it ends, showing its state on ``console`` and its output's new lines through
    ``out``/``err`` (nothing shown twice, also across a dropped connection); ``timeout`` cancels it (see
    ``slurm.wait``)."""
    streams = OutputStreams(out or _quiet, err or _quiet)
    started = time.monotonic()

    forgotten = None if record is None else functools.partial(record.ended, job_id=job_id)
    with progress(console, f"job {job_id}: asking Slurm") as update:
        def seen(status: slurm.JobStatus, elapsed: float) -> None:
            summary = status.summary()
            update(f"job {job_id}: {summary}, {elapsed:.0f} s", key=summary)
            streams.pull(pool.head(), files_of(status), final=status.finished)

        try:
            final = slurm.wait(pool, job_id, timeout=timeout, on_update=seen, poll=poll,
                               when_forgotten=forgotten)
        finally:
            streams.close()
    return JobResult(job_id, final.state, final.exit_code, "".join(streams.shown["out"]),
                     "".join(streams.shown["err"]), time.monotonic() - started)


def locate(pool: Pool, shared_mount: str | None, job_id: int) -> JobRecord | None:
    """The record of job ``job_id`` if the toolkit submitted it from this environment's shared file system; None
    for a job submitted otherwise (followed from what Slurm says alone), or a record an earlier cluster left for a
    job id Slurm has given again."""
    if shared_mount is None:
        return None
    record = job_record.find(pool.head(), shared_mount, job_id)
    if record is None:
        return None
    # no tasks: Slurm has forgotten the job, and the record is all there is to go by
    known = slurm.job_status(pool.head(), job_id, when_forgotten=lambda _: slurm.JobStatus(()))
    if known.tasks and not any(record.owns(task) for task in known.tasks):
        return None
    return record


def _quiet(_: str) -> None:
    """Output not shown as it comes (kept in the result only)."""
