"""Submit work to Slurm the way users have it: a program (built on the head) or a batch script of their own.

Everything goes over the pool's one connection to the head. The job folder lies on the shared file system so that
the batch host (a compute node) and every rank see the program and write the output where the head can read it;
its record (``remote/job_record.py``) lets anyone follow the job later from its id alone.

Which wins when a batch script of the user's and the toolkit both say something: a flag given on the command line
(``--partition``, ``--time``, ``--nodes``, ``--ntasks``, ``--array``, ``--gpus-per-node``) wins, as sbatch's own
command line wins over ``#SBATCH`` lines; then the script's ``#SBATCH`` lines; the toolkit's defaults (the job
folder as working folder, its output files, the environment's partition) only fill what the script leaves unsaid. A
script that names its own ``--output`` or ``--error`` keeps both as it says (Slurm then puts stderr with stdout
unless it names ``--error``), and the toolkit reads them where Slurm says they are.
"""

from __future__ import annotations

import posixpath
import re
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from rich.console import Console

from remote import build, files, slurm
from remote.batch_script import batch_script, output_names, slurm_time
from remote.errors import BadInput, RemoteError
from remote.job_flags import ArraySpec, parse_array
from remote.job_follow import JobResult, follow
from remote.job_output import Writer
from remote.job_record import JobRecord, index_dir, jobs_dir, save
from remote.pool import Pool
from remote.program_kinds import Program, classify
from remote.run import run
from remote.sbatch_directives import directives
from remote.ssh import node_of

JOB_DIR_TRIES = 5  # names drawn for a new job folder before giving up (each a new random part)
DEFAULT_TIME = "10"  # minutes: a program's time limit when neither --time nor --timeout says one


@dataclass(frozen=True)
class JobRequest:
    """What the job is asked for beyond the program, as Slurm takes it; None leaves a value to the batch script
    (or to Slurm)."""

    args: tuple[str, ...] = ()
    nodes: int | None = None
    ntasks: int | None = None
    partition: str | None = None
    time: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    array: ArraySpec | None = None
    gpus_per_node: int | None = None


@dataclass(frozen=True)
class Submitted:
    """A job Slurm has queued, and its record (what following it needs)."""

    job_id: int
    record: JobRecord


def job_name(name: str) -> str:
    """A program's name made safe for ``#SBATCH`` lines and folder names."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "job"


def job_dir_for(shared_mount: str, name: str) -> str:
    """A name for a new job folder; it starts with the job's."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{jobs_dir(shared_mount)}/{job_name(name)}-{stamp}-{secrets.token_hex(3)}"


def new_job_dir(client: paramiko.SSHClient, shared_mount: str, name: str) -> str:
    """Make a job folder no other submit has: its last part with one plain ``mkdir``, which fails for a folder
    already there. Two clients that drew the same name in the same second would otherwise share one folder, and
    the second would be handed the first's job (the folder's ``jobid`` says it was submitted)."""
    node = node_of(client)
    said = ""
    for _ in range(JOB_DIR_TRIES):
        path = job_dir_for(shared_mount, name)
        made = run(client, f"mkdir -p {shlex.quote(posixpath.dirname(path))} && mkdir {shlex.quote(path)}",
                   node=node, step="make the job folder", check=False)
        if made.exit_code == 0:
            return path
        said = made.stderr.strip()
    raise RemoteError(node, "make the job folder", f"no new folder could be made under {jobs_dir(shared_mount)} "
                      f"in {JOB_DIR_TRIES} tries: {said}", f"check that {shared_mount} is mounted and writable there "
                      "(`invoke mount` mounts it again)")


def require_shared(pool: Pool, shared_mount: str) -> None:
    """Jobs run from the shared file system, which every node mounts when it boots (the storage role): one the
    head lacks is a boot that went wrong, or an unmount since, and ``invoke mount`` mounts it again."""
    head = pool.head_name()
    probe = run(pool.head(), ["mountpoint", "-q", shared_mount], node=head, step="check shared fs", check=False)
    if probe.exit_code != 0:
        raise RemoteError(head, "check shared fs", f"{shared_mount} is not mounted; the nodes mount it when they boot",
                          "see the node's boot log for the storage role's error (what was not mounted and what "
                          "to check); `invoke mount` mounts it again on every node")


def submit_program(pool: Pool, program: Program, request: JobRequest, *, shared_mount: str, partition: str,
                   binary: str | None = None, timeout: float | None = None) -> Submitted:
    """Stage and build ``program`` on the head, write its batch script and submit it once.

    ``request.nodes`` and ``request.ntasks`` are required here; ``partition`` is the environment's, used unless
    ``request.partition`` names another; the time limit is ``request.time``, else ``timeout`` rounded up to
    minutes, else ``DEFAULT_TIME``."""
    if request.nodes is None or request.ntasks is None:
        raise ValueError("a program's job needs nodes and ntasks")
    require_shared(pool, shared_mount)
    job_dir = new_job_dir(pool.head(), shared_mount, program.name)
    command = build.stage(pool.head(), program, job_dir, binary)
    limit = request.time or (slurm_time(timeout) if timeout is not None else DEFAULT_TIME)
    array = request.array.text if request.array else None
    script = batch_script(job_name=job_name(program.name), job_dir=job_dir, command=command,
                          args=request.args, nodes=request.nodes, ntasks=request.ntasks,
                          partition=request.partition or partition, time=limit, env_keys=list(request.env),
                          array=array, gpus_per_node=request.gpus_per_node)
    files.put_text(pool.head(), script, f"{job_dir}/job.sbatch", mode=0o755)
    record = JobRecord(job_dir, output_names(array is not None), request.array.indices if request.array else ())
    return _submit(pool, record, "job.sbatch", shared_mount, env=request.env)


def submit_batch_script(pool: Pool, script: Path, request: JobRequest, *, shared_mount: str,
                        partition: str) -> Submitted:
    """Submit the user's batch script as it is, from a job folder, with the flags given and the toolkit's defaults
    where the script says nothing (see the module's docstring); ``request.args`` become the script's arguments."""
    own = directives(read_batch_script(script))
    require_shared(pool, shared_mount)
    job_dir = new_job_dir(pool.head(), shared_mount, script.stem)
    files.put(pool.head(), script, f"{job_dir}/{script.name}", mode=0o755)
    array = request.array or _array_of(own)
    options = [] if "chdir" in own else [f"--chdir={job_dir}"]
    outputs = None
    if "output" not in own and "error" not in own:
        outputs = output_names(array is not None or "array" in own)
        options += [f"--output={job_dir}/{outputs[0]}", f"--error={job_dir}/{outputs[1]}"]
    if request.partition or "partition" not in own:
        options.append(f"--partition={request.partition or partition}")
    for flag, value in (("time", request.time), ("nodes", request.nodes), ("ntasks", request.ntasks),
                        ("array", request.array.text if request.array else None),
                        ("gpus-per-node", request.gpus_per_node)):
        if value is not None:
            options.append(f"--{flag}={value}")
    record = JobRecord(job_dir, outputs, array.indices if array else (), exit_files=False)
    return _submit(pool, record, script.name, shared_mount, env=request.env, sbatch_args=options,
                   script_args=request.args)


def read_batch_script(script: Path) -> str:
    """The text of the user's batch script (what its ``#SBATCH`` lines say is read from it)."""
    if not script.is_file():
        raise BadInput(f"--sbatch {script}: no such file")
    return script.read_text(errors="replace")


def _array_of(own: Mapping[str, str]) -> ArraySpec | None:
    """The array a script's own ``#SBATCH --array`` line asks for (one Slurm refuses is Slurm's to say)."""
    if "array" not in own:
        return None
    try:
        return parse_array(own["array"])
    except BadInput:
        return None


def _submit(pool: Pool, record: JobRecord, script_name: str, shared_mount: str, *, env: Mapping[str, str],
            sbatch_args: Sequence[str] = (), script_args: Sequence[str] = ()) -> Submitted:
    save(pool.head(), record)
    job_id = slurm.submit(pool.head(), record.job_dir, script_name, sbatch_args=sbatch_args, script_args=script_args,
                          env=env, index_dir=index_dir(shared_mount))
    return Submitted(job_id, record)


def run_mpi(pool: Pool, program: Path, *, shared_mount: str, partition: str, nodes: int, ntasks: int,
            args: Sequence[str], timeout: float | None, console: Console, out: Writer | None = None,
            err: Writer | None = None) -> JobResult:
    """Build and run ``program`` on ``nodes`` nodes and ``ntasks`` ranks, and follow it to its end (a dropped
    connection re-attaches); its output is shown through ``out``/``err`` as it comes, and is in the result."""
    submitted = submit_program(pool, classify(program), JobRequest(args=tuple(args), nodes=nodes, ntasks=ntasks),
                               shared_mount=shared_mount, partition=partition, timeout=timeout)
    console.print(f"submitted job {submitted.job_id}: {shlex.join([program.name, *args])} on {nodes} node(s), "
                  f"{ntasks} task(s); folder {submitted.record.job_dir}", markup=False, soft_wrap=True)
    return follow(pool, submitted.job_id, submitted.record, timeout=timeout, console=console, out=out, err=err)
