"""Spark jobs on the environment's HDInsight cluster through its Livy endpoint, as `invoke submit-spark` runs
them: the EMR path's shape (targets/aws/emr_steps.py, the shared parts in targets/spark_jobs.py) with a Livy batch
instead of a step.

The script (with a zip of its local modules) and a local input go to ``jobs/<id>/`` in the cluster's storage;
``POST /batches`` runs the script with its arguments by the rule of remote/spark_args.py (the batch's ``args``, a
JSON list that Livy hands spark-submit item by item, never through a shell); ``GET /batches/{id}`` is polled until
the batch is final (success, dead, killed, error); a local output directory receives the results; ``GET
/batches/{id}/log`` gives what spark-submit printed (its ``stdout:`` section) and a failed batch's cause. A batch
still running at the timeout, or on Ctrl-C, is deleted. HDInsight's Livy sits behind the cluster gateway: HTTPS
with the cluster login (basic auth), and ``X-Requested-By`` on every request that changes something (Livy's CSRF
check).

Livy's log is spark-submit's own output. Where Livy runs batches in YARN cluster mode, the driver is a YARN
container and what the script prints goes to that container's stdout, which Livy does not return; when the log's
``stdout:`` section is empty, a note names the driver's log URL that Livy reports (``appInfo.driverLogUrl``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from remote.spark_args import check_args, script_args
from remote.spark_failure import failure_cause, quiet_tail
from remote.spark_job import is_uri
from spec.outputs import SparkCluster
from targets.azure.errors import AzureError
from targets.azure.spark_uploads import download, job_storage, upload_bytes, upload_input
from targets.spark_job_records import JobRecords, SparkJobRecord, finishing, reattach
from targets.spark_jobs import (
    JOBS_PREFIX,
    CloudSparkResult,
    check_local_paths,
    job_id,
    local_output_dir,
    modules_zip,
    safe_name,
    user_exit_code,
)

FINAL = ("success", "dead", "killed", "error")
LOG_PAGE = 1000  # lines per GET /batches/{id}/log
TAIL_LINES = 5
REQUEST_TIMEOUT = 60.0
RETRIES, RETRY_BACKOFF = 6, 0.5  # about 30 s of waiting in all before a read gives up
# One attempt: YARN would otherwise run a failing driver twice and the log would hold both.
BATCH_CONF = {"spark.yarn.maxAppAttempts": "1"}


def submit_livy(spark: SparkCluster, script: Path, records: JobRecords, *, input: str | None, output: str | None,
                args: Sequence[str], timeout: float, on_state: Callable[[str, float], None],
                modules: Sequence[Path] = (), poll: float = 5.0, credential: Any = None,
                account_url: str | None = None, verify: str | bool = True) -> CloudSparkResult:
    """Run ``script`` on the cluster as one Livy batch and return how it ended.

    ``input``/``output``: a URI (``abfss://...``) is passed on untouched; a local path is uploaded (input) or
    receives the job's files when the batch succeeds (output, an absent or empty directory). ``credential``
    (default: Azure's default chain) and ``account_url`` reach the storage; ``verify`` is a CA bundle path for
    both endpoints, or True. The batch's record goes into ``records`` before it is followed (see follow_livy)."""
    container_url = _check_spark(spark)
    check_args(args, input_given=input is not None, output_given=output is not None)
    local_output = local_output_dir(output)
    check_local_paths(script, modules, input)
    credential = credential if credential is not None else _default_credential()
    storage = job_storage(container_url, credential, account_url, verify)

    prefix = f"{JOBS_PREFIX}{job_id(script)}/"
    batch: dict[str, Any] = {"file": upload_bytes(storage, script.read_bytes(), f"{prefix}{safe_name(script.name)}"),
                             "name": f"submit-spark {script.name} ({prefix.removesuffix('/')})", "conf": BATCH_CONF}
    if modules:
        batch["pyFiles"] = [upload_bytes(storage, modules_zip(modules), f"{prefix}modules.zip")]
    input_uri = input if input is None or is_uri(input) else upload_input(storage, Path(input), prefix)
    output_uri = output if output is not None and local_output is None else storage.cluster_uri(f"{prefix}output")
    batch["args"] = script_args(args, input=input_uri, output=None if output is None else output_uri,
                                job_input=storage.cluster_uri(f"{prefix}input"),
                                job_output=storage.cluster_uri(f"{prefix}output"))

    batch_id = _Livy(spark, verify).call("POST", "/batches", f"submitting {script.name}", json=batch)["id"]
    record = SparkJobRecord(provider="azure", cluster=spark.master, cluster_job_id=str(batch_id), prefix=prefix,
                            output_uri=output_uri, output_dir=local_output, script=script.name,
                            submitted=datetime.now(UTC))
    records.save(record)
    return follow_livy(spark, record, records, timeout=timeout, on_state=on_state, poll=poll, credential=credential,
                       account_url=account_url, verify=verify)


def follow_livy(spark: SparkCluster, record: SparkJobRecord, records: JobRecords, *, timeout: float,
                on_state: Callable[[str, float], None], poll: float = 5.0, credential: Any = None,
                account_url: str | None = None, verify: str | bool = True) -> CloudSparkResult:
    """Follow the batch of ``record`` until it is final, download a local output, read a failure's cause, and
    remove the record. ``on_state(state, seconds)`` is called on every poll. A batch still running after
    ``timeout`` seconds, or on Ctrl-C, is deleted (and its record removed); a gateway that stays unreachable
    after the retries leaves both the batch and its record, for `invoke submit-spark --attach`."""
    container_url = _check_spark(spark)
    livy = _Livy(spark, verify)
    batch_id = int(record.cluster_job_id)
    try:
        final = livy.follow(batch_id, timeout, on_state, poll, records)
    except _NotFound as exc:
        records.remove(record.cluster_job_id)
        raise AzureError(f"batch {batch_id}: Livy at {livy.url} no longer knows it (it forgets a batch "
                         "livy.server.session.state-retain.sec, 10 minutes by default, after it ends, and all of them "
                         f"when it restarts), so its end cannot be read; its record is removed, and what it wrote is "
                         f"at {record.output_uri}") from exc
    log_url = f"{livy.url}/batches/{batch_id}/log"
    state = final["state"]
    with finishing(record.cluster_job_id):
        if state == "success" and record.output_dir is not None:
            storage = job_storage(container_url, credential if credential is not None else _default_credential(),
                                  account_url, verify)
            download(storage, f"{record.prefix}output/", record.output_dir)
        log = livy.log(batch_id)
        stdout = _printed(log)
        driver_log = (final.get("appInfo") or {}).get("driverLogUrl")
        common = {"cluster_job_id": record.cluster_job_id, "output_uri": record.output_uri, "logs": log_url,
                  "stdout": stdout, "note": None if stdout or not driver_log else (
                      f"Livy's log holds no line the driver printed (it ran in a YARN container): read them in "
                      f"{driver_log}")}
        if state == "success":
            result = CloudSparkResult(0, state, cause=None, output_dir=record.output_dir, **common)
        else:
            cause, code = _diagnose(log, state)
            result = CloudSparkResult(code, state, cause=cause, output_dir=None, **common)
    records.remove(record.cluster_job_id)
    return result


def _check_spark(spark: SparkCluster) -> str:
    """The cluster's container URL, once the cluster is known to be HDInsight with a Livy login."""
    if spark.provider != "azure" or not (spark.bucket and spark.user and spark.password):
        raise AzureError(f"submit-spark: the environment's Spark cluster is {spark.provider}, or has no container, "
                         "user or password; run `invoke up` with a spark stack on Azure")
    return spark.bucket


def _default_credential() -> Any:
    """Azure's default chain (the CLI login, environment variables, a managed identity), imported only when used."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _diagnose(lines: list[str], state: str) -> tuple[str, int]:
    """The cause from the batch's log (spark-submit's output and YARN's diagnostics) and the driver's exit code
    when YARN reports it, else 1."""
    text = "\n".join(lines)
    cause = failure_cause(text)
    if cause is None:
        tail = quiet_tail(text, lines=TAIL_LINES) or "(empty log)"
        cause = f"the batch ended {state} with no error in its log; its last lines:\n{tail}"
    return cause, user_exit_code(text)


def _printed(lines: list[str]) -> str:
    """What spark-submit printed to stdout, from Livy's batch log: the lines after its ``stdout: `` header, up to
    the ``\\nstderr: `` one (Livy's logLines)."""
    if "stdout: " not in lines:
        return ""
    start = lines.index("stdout: ") + 1
    end = next((index for index in range(start, len(lines)) if lines[index].strip() == "stderr:"), len(lines))
    return "".join(f"{line}\n" for line in lines[start:end])


class _NotFound(AzureError):
    """Livy answered 404: the batch is gone from its memory, however long the job keeps running."""


class _Livy:
    """Livy's batch API on the cluster gateway: basic auth, X-Requested-By, certificates verified."""

    def __init__(self, spark: SparkCluster, verify: str | bool) -> None:
        assert spark.user is not None and spark.password is not None  # checked by _check_spark
        self.url = spark.master.rstrip("/")
        self._session = requests.Session()
        # A gateway blip while following a batch must not lose it: reads and deletes are retried, a submit never
        # (a POST repeated after a lost answer would start the job twice), and a certificate refused never
        # (``other=0``: it would be refused again).
        self._session.mount("https://", HTTPAdapter(max_retries=Retry(
            total=RETRIES, other=0, backoff_factor=RETRY_BACKOFF, status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "DELETE"}), raise_on_status=False)))
        self._session.auth = (spark.user, spark.password.get_secret_value())
        self._verify = verify  # per request: a session's is overridden by REQUESTS_CA_BUNDLE
        self._session.headers["X-Requested-By"] = spark.user

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        """One request; any failure becomes one AzureError line naming ``what`` and what to do."""
        where = f"{what} (Livy at {self.url})"
        try:
            response = self._session.request(method, f"{self.url}{path}", timeout=REQUEST_TIMEOUT,
                                             verify=self._verify, **kwargs)
        except requests.RequestException as exc:
            raise AzureError(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
                             "check the cluster is up (`invoke up`) and ssh.allowed_cidr includes this machine"
                             ) from exc
        if response.status_code in (401, 403):
            raise AzureError(f"{where}: HTTP {response.status_code}, the cluster login was refused; run `invoke up` "
                             "again to refresh the saved outputs (they hold the cluster's login)")
        if not response.ok:
            detail = (response.text.strip().splitlines() or [response.reason])[0][:200]
            raise (_NotFound if response.status_code == 404 else AzureError)(
                f"{where}: HTTP {response.status_code} {detail}; see the cluster's Livy log in Ambari")
        return response.json() if response.content else {}

    def follow(self, batch_id: int, timeout: float, on_state: Callable[[str, float], None], poll: float,
               records: JobRecords) -> dict[str, Any]:
        """Poll the batch until it is final and return Livy's last view of it; delete it on timeout or Ctrl-C, and
        forget it then. A read that still fails after the retries leaves it running, and says how to follow it
        again."""
        start = time.monotonic()
        try:
            while True:
                try:
                    view = self.call("GET", f"/batches/{batch_id}", f"following batch {batch_id}")
                except _NotFound:
                    raise
                except AzureError as exc:
                    raise AzureError(f"{exc}; {reattach(str(batch_id))}") from exc
                state, elapsed = view["state"], time.monotonic() - start
                on_state(state, elapsed)
                if state in FINAL:
                    return view
                if elapsed >= timeout:
                    self.delete(batch_id)
                    records.remove(str(batch_id))
                    raise AzureError(f"batch {batch_id}: still {state} after {timeout:g} s, so it was deleted; "
                                     "submit again with a larger timeout")
                time.sleep(poll)
        except KeyboardInterrupt:
            self.delete(batch_id)
            records.remove(str(batch_id))
            raise

    def delete(self, batch_id: int) -> None:
        self.call("DELETE", f"/batches/{batch_id}", f"deleting batch {batch_id}")

    def log(self, batch_id: int) -> list[str]:
        """Every line Livy keeps of the batch's log, a page at a time."""
        lines: list[str] = []
        while True:
            page = self.call("GET", f"/batches/{batch_id}/log", f"reading the log of batch {batch_id}",
                             params={"from": len(lines), "size": LOG_PAGE})
            lines += page.get("log") or []
            if not page.get("log") or len(lines) >= page.get("total", 0):
                return lines
