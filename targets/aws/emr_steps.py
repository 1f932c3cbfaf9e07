"""Spark jobs on the environment's EMR cluster, as `invoke submit-spark` runs them.

The script (with a zip of its local modules), and a local input, go to ``s3://<bucket>/jobs/<id>/``; a
``spark-submit`` step runs it through ``command-runner.jar`` with its arguments by the rule of remote/spark_args.py
(each one an item of the step's Args, never a shell word); the step is followed to its end, a local output
directory receives the results, and the logs EMR copies to S3 give what the driver printed and a failed step's
cause (the Python traceback, a usage line or the Java exception). In cluster mode the driver is YARN's first
container of the application: Spark's PythonRunner sends the script's stdout and stderr to that container's stdout,
and the ApplicationMaster logs the exit status to its stderr. The logs are polled for a bounded time, never waited
for blindly (mrjob's fixed ten minutes is its users' first complaint).
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

from remote.download_paths import UnsafeDownload, open_destination, plan_downloads
from remote.spark_args import check_args, script_args
from remote.spark_failure import TRACEBACK, failure_cause
from remote.spark_job import is_uri
from spec.outputs import SparkCluster
from targets.aws.emr_step_once import add_step_once
from targets.aws.errors import AwsError, step
from targets.spark_job_records import JobRecords, SparkJobRecord, finishing, reattach
from targets.spark_jobs import (
    JOBS_PREFIX,
    CloudSparkResult,
    check_local_paths,
    input_files,
    job_id,
    local_output_dir,
    modules_zip,
    safe_name,
    user_exit_code,
)

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED")
ENDED_CLUSTER = ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")
APPLICATION_ID = re.compile(r"application_\d+_\d+")


def submit_emr(session: boto3.session.Session, spark: SparkCluster, script: Path, records: JobRecords, *,
               input: str | None, output: str | None, args: Sequence[str], timeout: float,
               on_state: Callable[[str, float], None], modules: Sequence[Path] = (), poll: float = 5.0,
               log_wait: float = 120.0) -> CloudSparkResult:
    """Run ``script`` on the cluster as one step and return how it ended.

    ``input``/``output``: a URI (``s3://...``) is passed on untouched; a local path is uploaded (input) or
    receives the job's files when the step completes (output, an absent or empty directory); ``args`` become the
    script's arguments by remote.spark_args.script_args (the job's own ``jobs/<id>/input`` (empty) and
    ``jobs/<id>/output`` folders stand in for a location not given). ``modules`` (files or package directories) go
    to ``--py-files`` as one zip. The step's record goes into ``records`` before it is followed (see follow_emr)."""
    _check_spark(spark)
    check_args(args, input_given=input is not None, output_given=output is not None)
    local_output = local_output_dir(output)
    check_local_paths(script, modules, input)
    emr = session.client("emr", region_name=spark.region)
    s3 = session.client("s3", region_name=spark.region)
    _check_cluster(emr, spark.master)

    prefix = f"{JOBS_PREFIX}{job_id(script)}/"
    location = f"s3://{spark.bucket}/{prefix}"
    script_uri = _upload(s3, script.read_bytes(), spark.bucket, f"{prefix}{safe_name(script.name)}")
    command = ["spark-submit", "--deploy-mode", "cluster"]
    if modules:
        command += ["--py-files", _upload(s3, modules_zip(modules), spark.bucket, f"{prefix}modules.zip")]
    input_uri = input if input is None or is_uri(input) else _upload_input(s3, Path(input), spark.bucket, prefix)
    output_uri = output if output is not None and local_output is None else f"{location}output"
    command += [script_uri, *script_args(args, input=input_uri, output=None if output is None else output_uri,
                                         job_input=f"{location}input", job_output=f"{location}output")]

    # the job's folder in the name: unique to this submission, the token add_step_once looks for
    step_id = add_step_once(session, spark.region, spark.master,
                            f"submit-spark {script.name} ({prefix.removesuffix('/')})", command)
    record = SparkJobRecord(provider="aws", cluster=spark.master, cluster_job_id=step_id, prefix=prefix,
                            output_uri=output_uri, output_dir=local_output, script=script.name,
                            submitted=datetime.now(UTC))
    records.save(record)
    return follow_emr(session, spark, record, records, timeout=timeout, on_state=on_state, poll=poll,
                      log_wait=log_wait)


def follow_emr(session: boto3.session.Session, spark: SparkCluster, record: SparkJobRecord, records: JobRecords, *,
               timeout: float, on_state: Callable[[str, float], None], poll: float = 5.0,
               log_wait: float = 120.0) -> CloudSparkResult:
    """Follow the step of ``record`` to its end, download a local output, read what the driver printed and a
    failure's cause, and remove the record. ``on_state(state, seconds)`` is called on every poll. A step still
    running after ``timeout`` seconds, or on Ctrl-C, is cancelled (and its record removed); a failure to read its
    state leaves both the step and its record, for `invoke submit-spark --attach`. The logs are waited for at most
    ``log_wait`` seconds."""
    _check_spark(spark)
    emr = session.client("emr", region_name=spark.region)
    s3 = session.client("s3", region_name=spark.region)
    step_id = record.cluster_job_id
    assert spark.bucket is not None and spark.log_uri is not None  # checked by _check_spark
    step_logs = f"{spark.log_uri.rstrip('/')}/{spark.master}/steps/{step_id}/"
    state, details = _follow(emr, spark.master, step_id, timeout, on_state, poll, records)
    with finishing(step_id):
        if state == "COMPLETED" and record.output_dir is not None:
            _download(s3, spark.bucket, f"{record.prefix}output/", record.output_dir)
        logs = _read_logs(s3, spark, step_id, details, log_wait, poll)
        note = None if logs.driver_stdout is not None else (
            f"what the driver printed was not in {logs.driver_folder} after {log_wait:g} s (EMR copies logs to S3 "
            "every few minutes): read its stdout.gz there later")
        common = {"cluster_job_id": step_id, "output_uri": record.output_uri, "logs": step_logs,
                  "stdout": logs.driver_stdout or "", "note": note}
        if state == "COMPLETED":
            result = CloudSparkResult(0, state, cause=None, output_dir=record.output_dir, **common)
        else:
            cause, code = _diagnose(logs, details, log_wait)
            result = CloudSparkResult(code, state, cause=cause, output_dir=None, **common)
    records.remove(step_id)
    return result


def _check_spark(spark: SparkCluster) -> None:
    if spark.provider != "aws" or not (spark.bucket and spark.region and spark.log_uri):
        raise AwsError(f"submit-spark: the environment's Spark cluster is {spark.provider}, or has no bucket, region "
                       "or log URI; run `invoke up` with a spark stack on AWS")


def _check_cluster(emr: Any, cluster_id: str) -> None:
    """A cluster that ended on its idle timeout takes no step: say so before uploading anything."""
    with step(f"reading EMR cluster {cluster_id}", "check the environment is up (`invoke up`) and the credentials "
              "allow elasticmapreduce:DescribeCluster"):
        status = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
    if status["State"] in ENDED_CLUSTER:
        reason = status.get("StateChangeReason", {}).get("Message") or status["State"]
        raise AwsError(f"EMR cluster {cluster_id} is {status['State']} ({reason}); run `invoke up` to create it "
                       "again, then submit")


def _upload(s3: Any, body: bytes, bucket: str, key: str) -> str:
    with step(f"uploading s3://{bucket}/{key}", "check the credentials allow s3:PutObject on the stack's bucket"):
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def _upload_input(s3: Any, path: Path, bucket: str, prefix: str) -> str:
    """A local input file or directory into the job's folder; returns the location Spark is given."""
    key, files = input_files(path, prefix)
    for file, file_key in files:
        with step(f"uploading {file} to s3://{bucket}/{file_key}", "check the credentials allow s3:PutObject"):
            s3.upload_file(str(file), bucket, file_key)  # multipart for large files
    return f"s3://{bucket}/{key}"


def _follow(emr: Any, cluster_id: str, step_id: str, timeout: float, on_state: Callable[[str, float], None],
            poll: float, records: JobRecords) -> tuple[str, dict[str, Any]]:
    """Poll the step until it ends: (state, failure details). Cancel it on timeout or Ctrl-C, and forget it."""
    start = time.monotonic()
    try:
        while True:
            with step(f"following step {step_id} of {cluster_id}", reattach(step_id)):
                status = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
            elapsed = time.monotonic() - start
            on_state(status["State"], elapsed)
            if status["State"] in TERMINAL:
                return status["State"], status.get("FailureDetails", {})
            if elapsed >= timeout:
                _cancel(emr, cluster_id, step_id)
                records.remove(step_id)
                raise AwsError(f"step {step_id}: still {status['State']} after {timeout:g} s, so it was cancelled; "
                               "submit again with a larger timeout")
            time.sleep(poll)
    except KeyboardInterrupt:
        _cancel(emr, cluster_id, step_id)
        records.remove(step_id)
        raise


def _cancel(emr: Any, cluster_id: str, step_id: str) -> None:
    with step(f"cancelling step {step_id}", f"cancel it with `aws emr cancel-steps --cluster-id {cluster_id} "
              f"--step-ids {step_id}`"):
        answer = emr.cancel_steps(ClusterId=cluster_id, StepIds=[step_id], StepCancellationOption="SEND_INTERRUPT")
    refused = [info for info in answer.get("CancelStepsInfoList", []) if info.get("Status") == "FAILED"]
    if refused:
        raise AwsError(f"cancelling step {step_id}: {refused[0].get('Reason', 'refused')}; it may still run "
                       f"until it ends: `aws emr cancel-steps --cluster-id {cluster_id} --step-ids {step_id}`")


def _download(s3: Any, bucket: str, prefix: str, target: Path) -> None:
    """Every object under ``prefix`` into ``target``, keeping the relative paths; every key is checked
    (remote/download_paths.py) before the first is downloaded."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with step(f"downloading s3://{bucket}/{prefix} into {target}", "check the credentials allow s3:GetObject and "
              "s3:ListBucket; the results stay in S3 until then"):
        keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])]
        try:
            for key, destination in plan_downloads(root, [key[len(prefix):] for key in keys]):
                with open_destination(root, destination) as out:
                    s3.download_fileobj(bucket, f"{prefix}{key}", out)
        except UnsafeDownload as exc:
            raise AwsError(f"downloading s3://{bucket}/{prefix} into {target}: {exc}; the download stopped "
                           f"there, the results stay in s3://{bucket}/{prefix}") from exc


@dataclass(frozen=True)
class _StepLogs:
    step: str  # the step's stderr: spark-submit's YARN client (the application id; in client mode, everything)
    step_key: str  # where it is in the log bucket
    driver_folder: str  # s3://... of the application's containers, or of every application's before one is known
    driver_stdout: str | None  # the script's printed lines and its traceback; None: not there in time
    driver_stderr: str  # the ApplicationMaster's log: the driver's exit status, a JVM-side exception


def _read_logs(s3: Any, spark: SparkCluster, step_id: str, details: dict[str, Any], log_wait: float,
               poll: float) -> _StepLogs:
    """The step's stderr, and from the application it names the driver's container logs (of its last attempt),
    each polled for until ``log_wait`` runs out."""
    assert spark.log_uri is not None  # checked by _check_spark
    log = urlparse(spark.log_uri)
    bucket, root = log.netloc, log.path.strip("/")
    base = f"{root}/{spark.master}/" if root else f"{spark.master}/"
    deadline = time.monotonic() + log_wait
    step_key = _failure_log_key(details, bucket) or f"{base}steps/{step_id}/stderr.gz"
    step_log = "\n".join(_wait_for(s3, bucket, lambda: [step_key] if _exists(s3, bucket, step_key) else [], deadline,
                                   poll).values())
    applications = APPLICATION_ID.findall(step_log)
    containers = f"{base}containers/{applications[-1]}/" if applications else f"{base}containers/"
    # a step log with the traceback ran the driver itself (client mode): there is no driver container to wait for
    in_container = applications and TRACEBACK not in step_log
    driver = _wait_for(s3, bucket, lambda: _driver_logs(s3, bucket, containers), deadline, poll) if in_container else {}
    return _StepLogs(step_log, f"s3://{bucket}/{step_key}", f"s3://{bucket}/{containers}",
                     next((text for key, text in driver.items() if key.endswith("/stdout.gz")), None),
                     next((text for key, text in driver.items() if key.endswith("/stderr.gz")), ""))


def _diagnose(logs: _StepLogs, details: dict[str, Any], log_wait: float) -> tuple[str, int]:
    """The cause of a failed step and its exit code: the driver's own output says the most, then the
    ApplicationMaster's log, then the step's."""
    code = user_exit_code(logs.driver_stderr)
    cause = failure_cause(logs.driver_stdout or "", logs.driver_stderr, logs.step)
    if cause:
        return cause, code
    reason = " ".join(filter(None, (details.get("Reason"), details.get("Message"))))
    return (f"{reason + '; ' if reason else ''}no error found in the step's logs after {log_wait:g} s (EMR copies "
            f"them to S3 every few minutes): look at {logs.step_key} and {logs.driver_folder} later"), code


def _failure_log_key(details: dict[str, Any], bucket: str) -> str | None:
    """EMR names the log file that holds a failure's root cause, when it knows it."""
    location = urlparse(details.get("LogFile") or "")
    if location.scheme in ("s3", "s3n", "s3a") and location.netloc == bucket and location.path.endswith(".gz"):
        return location.path.lstrip("/")
    return None


def _wait_for(s3: Any, bucket: str, find: Callable[[], list[str]], deadline: float, poll: float) -> dict[str, str]:
    """The gunzipped text of each object ``find`` names, as soon as there are any, or none at the deadline."""
    while True:
        with step(f"reading step logs in s3://{bucket}", "check the credentials allow s3:GetObject and "
                  "s3:ListBucket on the stack's bucket"):
            keys = find()
            if keys:
                return {key: gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                        .decode(errors="replace") for key in keys}
        if time.monotonic() >= deadline:
            return {}
        time.sleep(poll)


def _exists(s3: Any, bucket: str, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("KeyCount"))


def _driver_logs(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The stdout and stderr logs of the application's driver: YARN's first container (``..._000001``) of its last
    attempt, where cluster mode runs it. Executors' logs are left alone: a big job has hundreds, and their Python
    errors reach the driver's traceback anyway."""
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", []) if item["Key"].endswith(("_000001/stdout.gz", "_000001/stderr.gz"))]
    last = max((key.rsplit("/", 2)[-2] for key in keys), default=None)  # container_..._02_000001 after _01_
    return sorted(key for key in keys if key.rsplit("/", 2)[-2] == last)
