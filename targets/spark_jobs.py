"""What `invoke submit-spark` does the same way on every cloud (EMR steps in targets/aws/emr_steps.py, Livy
batches on HDInsight in targets/azure/livy.py): check the local paths before paying for anything, name the job's
folder in the cluster's storage (``jobs/<id>/``), zip the script's local modules for ``--py-files``, read the
driver's exit code out of YARN's diagnostics, and say how the job ended in one result type.

The local standalone path (remote/spark_job.py) keeps its own ``SparkResult`` and checks: it runs spark-submit over
SSH and returns that process's stdout and stderr, with no cluster job id, state or log location, and ``remote/``
never imports ``targets/``, so a result type shared with it would have to live in ``remote/`` and carry fields
neither side fills in.
"""

from __future__ import annotations

import io
import re
import secrets
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from remote.spark_job import is_uri
from targets.errors import UsageError

JOBS_PREFIX = "jobs/"  # where a job's files go in the cluster's storage: jobs/<job_id>/
USER_EXIT = re.compile(r"User application exited with status (\d+)")  # YARN's diagnostics for the driver
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same modules make the same zip


@dataclass(frozen=True)
class CloudSparkResult:
    """How a job on a cloud cluster ended; ``cause`` says why it failed (or where to look)."""

    exit_code: int
    state: str  # the cluster's word for the end: COMPLETED/FAILED/... (EMR), success/dead/... (Livy)
    cluster_job_id: str  # the job's id on the cluster: the EMR step id, the Livy batch id
    cause: str | None
    output_uri: str  # where the job wrote its results on the cluster's storage
    output_dir: Path | None  # the local directory the results were downloaded into, if one was asked for
    logs: str  # where the job's logs are: the step's S3 folder (EMR), the batch's log URL (Livy)
    stdout: str = ""  # what the driver printed (the script's own lines), as far as the logs hold it
    note: str | None = None  # where to read what the driver printed later, when its log was not there in time


def job_id(script: Path) -> str:
    """``<script>-<UTC time>-<random>``: sorts by time in the bucket, and two submissions never collide."""
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", script.stem).strip("-")[:40] or "job"
    return f"{stem}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


def safe_name(name: str) -> str:
    """spark-submit reads its script's location as a URI and takes one it cannot parse (a space) for a local
    file; the uploaded copy gets a name it can."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def modules_zip(modules: Sequence[Path]) -> bytes:
    """The local modules as one zip for ``--py-files``: a file at the top, a package directory under its name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in modules:
            files = [module] if module.is_file() else sorted(
                p for p in module.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
            for path in files:
                name = path.name if module.is_file() else path.relative_to(module.parent).as_posix()
                archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), path.read_bytes())
    return buffer.getvalue()


def local_output_dir(output: str | None) -> Path | None:
    """The local directory ``output`` names (None for a URI or no output). It must be absent or empty, as Spark
    wants of any output: checked before paying for a job whose results could not land."""
    if output is None or is_uri(output):
        return None
    path = Path(output).expanduser()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"submit-spark: --output {output} exists and is not an empty directory; give a new one "
                          "(the job's files are downloaded into it)")
    return path


def check_local_paths(script: Path, modules: Sequence[Path], input: str | None) -> None:
    """The script, the modules and a local input exist: said before anything is uploaded."""
    paths = [("--script", script), *(("module", module) for module in modules)]
    if input is not None and not is_uri(input):
        paths.append(("--input", Path(input).expanduser()))
    for what, path in paths:
        if not path.exists():
            raise UsageError(f"submit-spark: {what} {path}: no such file or directory")


def input_files(path: Path, prefix: str) -> tuple[str, list[tuple[Path, str]]]:
    """Where a local input goes under the job's ``prefix``: a file becomes ``input/<name>``, a directory
    ``input/<name>/...`` (read as one input by Spark). Returns the key Spark is given (a directory's ends in
    ``/``) and each file with its key."""
    path = path.expanduser()
    base = f"{prefix}input/{path.resolve().name}"
    if path.is_file():
        return base, [(path, base)]
    files = [(file, f"{base}/{file.relative_to(path).as_posix()}")
             for file in sorted(path.rglob("*")) if file.is_file()]
    if not files:
        raise UsageError(f"submit-spark: --input {path} is an empty directory; give the data to process")
    return f"{base}/", files


def user_exit_code(log: str) -> int:
    """The driver's exit code as YARN reports it in ``log`` (the last non-zero one), else 1: the job failed."""
    codes = [int(code) for code in USER_EXIT.findall(log) if int(code) != 0]
    return codes[-1] if codes else 1
