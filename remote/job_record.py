"""What the toolkit knows of a job it submitted, kept beside the job on the shared file system.

Why: ``invoke job --id N`` may run on a machine that did not submit job N, and after Slurm has forgotten it
(MinJobAge). So nothing it needs lives only on the submitting machine: ``JOBDIR/job.json`` says what the job
folder holds (the toolkit's output file names, the array's task indices, whether the batch script records exit
codes), and ``<shared>/.chpc/jobs/by-id/N`` links to ``JOBDIR`` (made by the submit, under its lock).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import asdict, dataclass

import paramiko

from remote import files
from remote.batch_script import EXIT_FILE, exit_file
from remote.errors import ConnectionLost, RemoteError
from remote.mounts import TOOLKIT_DIR
from remote.run import run
from remote.slurm import JobState, JobStatus
from remote.ssh import node_of

RECORD_FILE = "job.json"


def jobs_dir(shared_mount: str) -> str:
    """The folder of every job folder, on the shared file system."""
    return f"{shared_mount.rstrip('/')}/{TOOLKIT_DIR}/jobs"


def index_dir(shared_mount: str) -> str:
    """The folder of links from a job id to its job folder."""
    return f"{jobs_dir(shared_mount)}/by-id"


@dataclass(frozen=True)
class JobRecord:
    """``outputs``: the toolkit's (stdout, stderr) file names in ``job_dir``, as Slurm patterns; None when the batch
    script names its own (Slurm then says where they are while it knows the job). ``array``: the task indices of
    an array job. ``exit_files``: the batch script is the toolkit's, which records each exit code in the folder."""

    job_dir: str
    outputs: tuple[str, str] | None
    array: tuple[int, ...] = ()
    exit_files: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data = json.loads(text)
        outputs = data.get("outputs")
        return cls(job_dir=data["job_dir"], outputs=tuple(outputs) if outputs else None,
                   array=tuple(data.get("array", ())), exit_files=bool(data.get("exit_files", True)))

    def output_files(self, job_id: int, index: int | str | None) -> tuple[str, str]:
        """The paths of the toolkit's output files for the job (or its array task ``index``); empty if unknown."""
        if self.outputs is None:
            return "", ""
        paths = []
        for pattern in self.outputs:
            name = pattern.replace("%A", str(job_id)).replace("%j", str(job_id))
            paths.append(f"{self.job_dir}/{name.replace('%a', str(index))}")
        return paths[0], paths[1]

    def describe_outputs(self, job_id: int) -> str:
        """Where the job's output goes, in words."""
        if self.outputs is None:
            return f"where the script's #SBATCH lines say (a relative path is in {self.job_dir})"
        stdout, stderr = self.output_files(job_id, "INDEX")
        return f"{stdout} and {posixpath.basename(stderr)}"

    def owns(self, state: JobState) -> bool:
        """Whether the job Slurm describes is this record's (its script lies in the job folder): an index link
        left by an earlier cluster on the same shared file system names a job id Slurm may have given again."""
        return state.command.startswith(f"{self.job_dir}/")

    def ended(self, client: paramiko.SSHClient, job_id: int) -> JobStatus:
        """How a job Slurm has forgotten ended, from the exit code its batch script left in the job folder."""
        node = node_of(client)
        if not self.exit_files:
            raise RemoteError(node, "scontrol", f"Slurm no longer knows job {job_id} (it forgets a job a while after "
                              "its end), and a batch script of your own records no exit code",
                              f"its output is where the script's #SBATCH lines put it (job folder {self.job_dir})")
        listing = run(client, ["sh", "-c", f'cd "$1" && for f in {EXIT_FILE}*; do [ -f "$f" ] && '
                               'printf "%s %s\\n" "$f" "$(cat "$f")"; done; true', "sh", self.job_dir],
                      node=node, step="read exit codes").stdout
        codes = dict(line.split(" ", 1) for line in listing.splitlines() if " " in line)
        tasks = []
        for index in self.array or (None,):
            name = exit_file(index)
            text = codes.get(name, "").strip()
            if not text.lstrip("-").isdigit():
                raise RemoteError(node, "scontrol", f"Slurm no longer knows job {job_id} and {self.job_dir}/{name} "
                                  "is missing: the job ended without its script finishing",
                                  f"look at the output files in {self.job_dir} on the head")
            code = int(text)
            stdout, stderr = self.output_files(job_id, index)
            tasks.append(JobState(state="COMPLETED" if code == 0 else "FAILED", exit_code=code, signal=0, node_list="",
                                  finished=True, reason="from the exit code file",
                                  array_task="" if index is None else str(index), stdout=stdout, stderr=stderr))
        return JobStatus(tuple(tasks))


def save(client: paramiko.SSHClient, record: JobRecord) -> None:
    files.put_text(client, record.to_json(), f"{record.job_dir}/{RECORD_FILE}", mode=0o644)


def find(client: paramiko.SSHClient, shared_mount: str, job_id: int) -> JobRecord | None:
    """The record of job ``job_id`` if the toolkit submitted it (found through the index on the shared file
    system, so from any machine); None for a job submitted otherwise."""
    try:
        text = files.get_text(client, f"{index_dir(shared_mount)}/{int(job_id)}/{RECORD_FILE}")
    except ConnectionLost:
        raise
    except RemoteError:
        return None
    return JobRecord.from_json(text)
