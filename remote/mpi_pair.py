"""One Python MPI program on two compute nodes, one rank each, through Slurm; and the figures it prints.

For the OSU-pattern measurements of ``examples/mpi/latency.py`` and ``bandwidth.py``: they run with the nodes'
own ``/usr/bin/python3`` and mpi4py (the mpi role installs both). Kept apart from ``mpi_job`` (the user's programs,
staged and followed there) and built on ``remote.slurm`` as it is: a measurement needs no compile step and no
progress line, only the job's output or one line saying why there is none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from remote import files, slurm
from remote.batch_script import batch_script, output_names, slurm_time
from remote.errors import RemoteError
from remote.mpi_job import job_name, new_job_dir, require_shared
from remote.pool import Pool
from remote.run import tail

PYTHON = "/usr/bin/python3"  # the nodes' python, beside whose packages the mpi role installs mpi4py
_PAIR = re.compile(r"^pair rank0=(\S+) rank1=(\S+)$", re.M)
_LATENCY = re.compile(r"^latency bytes=(\d+) us=([\d.]+)", re.M)
_BANDWIDTH = re.compile(r"^bandwidth bytes=(\d+) MB/s=([\d.]+)", re.M)
_FRAME = re.compile(r"^-{20,}$")  # the line above and below each of Open MPI's notices


@dataclass(frozen=True)
class PairFigures:
    """What the two ranks printed: the hosts of rank 0 and rank 1, latency (µs) and bandwidth (MB/s) by size."""

    hosts: tuple[str, str]
    latency_us: dict[int, float] = field(default_factory=dict)
    bandwidth_mb_s: dict[int, float] = field(default_factory=dict)


def parse(text: str) -> PairFigures:
    """The figures in the output of latency.py or bandwidth.py; ValueError when it names no pair of hosts."""
    pair = _PAIR.search(text)
    if pair is None:
        raise ValueError("no 'pair rank0=... rank1=...' line")
    return PairFigures(hosts=(pair.group(1), pair.group(2)),
                       latency_us={int(size): float(us) for size, us in _LATENCY.findall(text)},
                       bandwidth_mb_s={int(size): float(rate) for size, rate in _BANDWIDTH.findall(text)})


def run_pair(pool: Pool, scripts: Sequence[Path], args: Sequence[str], *, shared_mount: str, partition: str,
             timeout: float, mca: Mapping[str, str] | None = None) -> PairFigures:
    """Upload ``scripts`` into a job folder on the shared file system and run the first one as two ranks on two
    nodes (``mca``: Open MPI parameters for this run only, e.g. ``{"mpi_yield_when_idle": "0"}``)."""
    require_shared(pool, shared_mount)
    head, client = pool.head_name(), pool.head()
    main = scripts[0]
    job_dir = new_job_dir(client, shared_mount, main.stem)
    for script in scripts:
        files.put(client, script, f"{job_dir}/{script.name}")
    files.put_text(client, batch_script(
        job_name=job_name(main.stem), job_dir=job_dir, command=[PYTHON, f"{job_dir}/{main.name}"], args=args,
        nodes=2, ntasks=2, partition=partition, time=slurm_time(timeout), mca=mca), f"{job_dir}/job.sbatch")
    job_id = slurm.submit(client, job_dir, "job.sbatch")
    started = time.monotonic()
    final = slurm.wait(pool, job_id, timeout=timeout)
    out, err = (_read(pool, f"{job_dir}/{name.replace('%j', str(job_id))}") for name in output_names(False))
    if final.state != "COMPLETED":
        raise RemoteError(head, f"{main.name} on two nodes",
                          f"job {job_id} ended {final.state} (exit {final.exit_code}) after "
                          f"{time.monotonic() - started:.0f} s: "
                          f"{tail(_without_boxes(err), 5) or tail(out, 5) or '(no output)'}",
                          f"its folder {job_dir} on the head holds the batch script and the output; `sinfo` shows "
                          "whether two compute nodes are idle")
    try:
        return parse(out)
    except ValueError as exc:
        raise RemoteError(head, f"{main.name} on two nodes", f"job {job_id} printed {exc}: {tail(out, 5)!r}",
                          f"look at {job_dir}/slurm-{job_id}.out on the head") from None


def _without_boxes(text: str) -> str:
    """``text`` less Open MPI's framed notices (between lines of dashes), which say that a rank failed but not why:
    what is left is the program's own error."""
    kept, framed = [], False
    for line in text.splitlines():
        if _FRAME.match(line):
            framed = not framed
        elif not framed:
            kept.append(line)
    return "\n".join(kept)


def _read(pool: Pool, path: str) -> str:
    try:
        return files.get_text(pool.head(), path)
    except RemoteError:
        return ""
