"""Run an MPI program through Slurm: upload, compile on the head, sbatch, follow, fetch output.

Everything goes over the pool's one connection to the head. The job folder lies on the shared file
system so that the batch host (a compute node) and every rank see the program and write the output
where the head can read it.
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from remote import files, slurm
from remote.errors import RemoteError
from remote.mounts import TOOLKIT_DIR
from remote.pool import Pool
from remote.run import run


@dataclass(frozen=True)
class JobResult:
    job_id: int
    state: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


def job_dir_for(shared_mount: str, program: Path) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{shared_mount.rstrip('/')}/{TOOLKIT_DIR}/jobs/{program.stem}-{stamp}-{secrets.token_hex(3)}"


def require_shared(pool: Pool, shared_mount: str) -> None:
    """Jobs run from the shared file system, which every node mounts when it boots (the storage role): one the
    head lacks is a boot that went wrong, or an unmount since, and ``invoke mount`` mounts it again."""
    head = pool.head_name()
    probe = run(pool.head(), ["mountpoint", "-q", shared_mount], node=head, step="check shared fs", check=False)
    if probe.exit_code != 0:
        raise RemoteError(head, "check shared fs", f"{shared_mount} is not mounted; the nodes mount it when they boot",
                          "see the node's boot log for the storage role's error (what was not mounted and what "
                          "to check); `invoke mount` mounts it again on every node")


def stage_program(pool: Pool, program: Path, job_dir: str) -> str:
    """Upload the program; a ``.c`` file is compiled with ``mpicc`` on the head. Returns the binary path."""
    head, client = pool.head_name(), pool.head()
    if not program.is_file():
        raise RemoteError("local", "read program", f"{program} is not a file", "pass --program PATH")
    files.mkdir_p(client, job_dir)
    remote_source = f"{job_dir}/{program.name}"
    files.put(client, program, remote_source, mode=0o755)
    if program.suffix != ".c":
        return remote_source
    binary = f"{job_dir}/{program.stem}"
    run(client, ["mpicc", "-O2", "-o", binary, remote_source], node=head, step=f"compile {program.name}")
    return binary


def run_mpi(pool: Pool, program: Path, *, shared_mount: str, partition: str, nodes: int, ntasks: int,
            args: Sequence[str], timeout: float, console: Console) -> JobResult:
    """The whole run; the job's exit code is in the result. A dropped connection re-attaches."""
    require_shared(pool, shared_mount)
    job_dir = job_dir_for(shared_mount, program)
    binary = stage_program(pool, program, job_dir)
    script = slurm.batch_script(job_name=program.stem, job_dir=job_dir, program=binary, args=args,
                                nodes=nodes, ntasks=ntasks, partition=partition, timeout=timeout)
    files.put_text(pool.head(), script, f"{job_dir}/job.sbatch", mode=0o755)
    job_id = slurm.submit(pool.head(), job_dir, "job.sbatch")
    console.print(f"submitted job {job_id}: {shlex.join([program.name, *args])} on {nodes} node(s), "
                  f"{ntasks} task(s); folder {job_dir}")
    started = time.monotonic()
    with console.status(f"job {job_id}: submitted") as status:
        def show(state: slurm.JobState, elapsed: float) -> None:
            where = f" on {state.node_list}" if state.node_list and state.node_list != "(null)" else ""
            status.update(f"job {job_id}: {state.state}{where}, {elapsed:.0f} s")

        final = slurm.wait(pool, job_id, job_dir, timeout=timeout, on_update=show)
    out = _read(pool, f"{job_dir}/slurm-{job_id}.out")
    err = _read(pool, f"{job_dir}/slurm-{job_id}.err")
    return JobResult(job_id, final.state, final.exit_code, out, err, time.monotonic() - started)


def _read(pool: Pool, path: str) -> str:
    try:
        return files.get_text(pool.head(), path)
    except RemoteError:
        return ""
