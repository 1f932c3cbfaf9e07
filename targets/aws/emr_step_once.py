"""Adding a step to an EMR cluster at most once, though AddJobFlowSteps takes no idempotency token.

botocore resends a request whose answer was lost (a timeout, a connection reset, a 5xx), and EMR would then add
the step again: the job runs twice, both runs writing one output. So the step's name carries a token unique to the
submission (the job's folder, ``jobs/<script>-<time>-<random>``), botocore's own retries are off for this call,
and every attempt first looks on the cluster for a step of that name: one found is the step an attempt whose
answer was lost has added.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from targets.aws.errors import step

ATTEMPTS = 4
BACKOFF = 2.0  # s before the second attempt, doubled before each next one
TRANSIENT = frozenset({"ThrottlingException", "Throttling", "RequestLimitExceeded", "InternalServerError",
                       "InternalFailure", "ServiceUnavailable"})


def add_step_once(session: boto3.session.Session, region: str | None, cluster_id: str, name: str,
                  command: list[str]) -> str:
    """The id of the step ``name`` on ``cluster_id`` running ``command`` through command-runner.jar: the one
    already there if an earlier attempt added it, else a new one. ``name`` must be unique to the submission."""
    emr = session.client("emr", region_name=region, config=Config(retries={"total_max_attempts": 1}))
    hint = "check the credentials allow elasticmapreduce:AddJobFlowSteps and elasticmapreduce:ListSteps"
    attempts = 0
    while True:
        with step(f"adding step {name!r} to EMR cluster {cluster_id}", hint):
            try:
                return _existing(emr, cluster_id, name) or emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[{
                    "Name": name, "ActionOnFailure": "CONTINUE",
                    "HadoopJarStep": {"Jar": "command-runner.jar", "Args": command}}])["StepIds"][0]
            except (ConnectionError, HTTPClientError, ClientError) as exc:
                attempts += 1
                if attempts == ATTEMPTS or not _transient(exc):
                    raise
        time.sleep(BACKOFF * 2 ** (attempts - 1))


def _existing(emr: Any, cluster_id: str, name: str) -> str | None:
    for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id):
        for summary in page.get("Steps", []):
            if summary.get("Name") == name:
                return str(summary["Id"])
    return None


def _transient(exc: Exception) -> bool:
    """A lost or refused-for-now answer, worth another attempt (a lookup first)."""
    if not isinstance(exc, ClientError):
        return True
    error = exc.response.get("Error", {})
    return error.get("Code") in TRANSIENT or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
