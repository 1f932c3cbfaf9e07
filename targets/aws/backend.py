"""The AWS target: a stack of this project's program (``targets.cloud``) with boto3 for what follows `up`: the
compute fleet found by tag, Fargate tasks, EMR steps, and the leftover check after destroy. Credentials and
endpoints come from boto3's usual chain (profiles, environment, ``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

from collections.abc import Callable

import boto3
from rich.console import Console

from spec.outputs import ENVIRONMENT_TAG, Node, Outputs
from targets.backend import Record, SparkJob, SparkRun
from targets.cloud import PulumiBackend
from targets.spark_job_records import JobRecords


class AwsBackend(PulumiBackend):
    target = "aws"

    def compute_nodes(self, contract: Outputs) -> list[Node]:
        from targets.aws.discovery import compute_nodes

        if contract.fleet is None:
            return list(contract.computes)
        return compute_nodes(boto3.Session(region_name=contract.fleet.region), contract.fleet)

    def wait_for_fleet(self, contract: Outputs, timeout: float) -> list[Node]:
        from targets.aws.discovery import wait_for_nodes

        assert contract.fleet is not None
        return wait_for_nodes(boto3.Session(region_name=contract.fleet.region), contract.fleet, timeout)

    def leftovers(self, record: Record, contract: Outputs | None) -> list[str] | None:
        from targets.aws.leftovers import tagged_leftovers

        region = contract.region if contract else record.region
        if region is None:
            return None
        kept = {v.volume_id for v in contract.volumes if v.retain and v.volume_id} if contract else set()
        return tagged_leftovers(boto3.Session(region_name=region), ENVIRONMENT_TAG, record.name, keep=kept)

    def run_task(self, contract: Outputs, command: list[str] | None, timeout: float,
                 on_log: Callable[[str], None]) -> int:
        from targets.aws.ecs_tasks import run_task

        service = contract.containers
        assert service is not None
        return run_task(boto3.Session(region_name=service.region), service, command, timeout=timeout, on_log=on_log)

    def submit_spark(self, contract: Outputs, job: SparkJob, console: Console) -> SparkRun:
        from targets.aws import emr_steps

        spark = contract.spark
        assert spark is not None  # the task checks it
        with console.status("submitting") as status:
            result = emr_steps.submit_emr(
                boto3.Session(region_name=spark.region), spark, job.script, JobRecords.of(contract.name),
                input=job.input, output=job.output, args=job.args, timeout=job.timeout,
                on_state=lambda state, elapsed: status.update(f"step {state}, {elapsed:.0f} s"))
        return SparkRun.of_cloud(result)

    def attach_spark(self, contract: Outputs, job_id: str, timeout: float, console: Console) -> SparkRun:
        from targets.aws import emr_steps

        spark = contract.spark
        assert spark is not None  # the task checks it
        records = JobRecords.of(contract.name)
        record = records.load(job_id, spark)
        with console.status(f"attaching to step {job_id}") as status:
            result = emr_steps.follow_emr(
                boto3.Session(region_name=spark.region), spark, record, records, timeout=timeout,
                on_state=lambda state, elapsed: status.update(f"step {state}, {elapsed:.0f} s"))
        return SparkRun.of_cloud(result)


BACKEND = AwsBackend()
