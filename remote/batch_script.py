"""The batch script the toolkit writes for ``run-mpi --program``: ``mpirun`` of the staged program in its job folder.

Contract with the follower (``remote/job_record.py``): the script writes mpirun's exit code to ``JOBDIR/exitcode``
(``exitcode.INDEX`` for an array task) through a temp file and a rename before exiting with it, so the result is
known even after slurmctld has forgotten the job; its output goes to the file names :func:`output_names` gives.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence

EXIT_FILE = "exitcode"


def output_names(array: bool) -> tuple[str, str]:
    """The toolkit's stdout and stderr file names in a job folder, as Slurm patterns (an array task's by index)."""
    stem = "slurm-%A_%a" if array else "slurm-%j"
    return f"{stem}.out", f"{stem}.err"


def exit_file(index: int | None) -> str:
    """The name of the file that records a job's exit code (an array task's carries its index)."""
    return EXIT_FILE if index is None else f"{EXIT_FILE}.{index}"


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
    command: Sequence[str],
    args: Sequence[str] = (),
    nodes: int,
    ntasks: int,
    partition: str,
    time: str,
    env_keys: Sequence[str] = (),
    array: str | None = None,
    mca: Mapping[str, str] | None = None,
    mpirun_args: Sequence[str] = (),
    gpus_per_node: int | None = None,
) -> str:
    """An sbatch script that runs ``mpirun [--mca K V ...] [-x KEY ...] [mpirun_args] command args...`` in ``job_dir``.

    ``command`` is what every rank starts (a binary, or the nodes' Python and a script); ``args`` follow it, each
    quoted so it reaches the program exactly. ``time`` is a Slurm ``--time`` value; ``array`` a Slurm array
    spec; ``gpus_per_node`` asks Slurm for that many of each node's GPUs (its GRES). ``env_keys`` are
    variables the job gets from sbatch's environment (``--env``): ``-x`` hands them to
    every rank, on every node, whatever launches Open MPI's daemons. ``job_dir``, ``job_name`` and ``partition``
    must not contain whitespace (``#SBATCH`` lines are not shell-parsed).
    """
    for label, value in (("job_dir", job_dir), ("job_name", job_name), ("partition", partition)):
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(f"{label} must be non-empty and contain no whitespace: {value!r}")
    mpirun = ["mpirun"]
    for key, value in (mca or {}).items():
        mpirun += ["--mca", key, value]
    for key in env_keys:
        mpirun += ["-x", key]
    mpirun += [*mpirun_args, *command, *args]
    out, err = output_names(array is not None)
    exit_path = shlex.quote(f"{job_dir}/{EXIT_FILE}")
    return "\n".join([
        "#!/bin/sh",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --ntasks={ntasks}",
        f"#SBATCH --output={job_dir}/{out}",
        f"#SBATCH --error={job_dir}/{err}",
        f"#SBATCH --chdir={job_dir}",
        f"#SBATCH --partition={partition}",
        f"#SBATCH --time={time}",
        *([f"#SBATCH --array={array}"] if array is not None else []),
        *([f"#SBATCH --gpus-per-node={gpus_per_node}"] if gpus_per_node is not None else []),
        "# Written by remote.batch_script. The exit code goes to JOBDIR/exitcode (exitcode.INDEX for an array",
        "# task) so the toolkit knows the result even after Slurm has forgotten the job.",
        "set -u",
        shlex.join(mpirun),
        "rc=$?",
        f'code={exit_path}"${{SLURM_ARRAY_TASK_ID:+.$SLURM_ARRAY_TASK_ID}}"',
        'echo "$rc" > "$code.tmp" && mv "$code.tmp" "$code"',
        'exit "$rc"',
        "",
    ])
