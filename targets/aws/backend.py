"""The AWS target: a stack of this project's program (``targets.cloud``) with boto3 for what follows `up`: the
compute nodes found by tag in the stack's VPC (and terminated before destroy), Fargate tasks, EMR steps, and the
leftover check after destroy. Credentials and endpoints come from boto3's usual chain (profiles, environment,
``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

from collections.abc import Callable

import boto3
from rich.console import Console

from spec.outputs import ENVIRONMENT_TAG, Node, Outputs, SparkCluster
from targets.backend import Record, SparkJob
from targets.cloud import OnState, PulumiBackend
from targets.kept import Leftovers, kept_ids, kept_volumes
from targets.spark_job_records import JobRecords, SparkJobRecord
from targets.spark_jobs import CloudSparkResult


class AwsBackend(PulumiBackend):
    target = "aws"
    job_word = "step"

    def _fleet_nodes(self, contract: Outputs) -> list[Node]:
        from targets.aws.discovery import compute_nodes

        assert contract.fleet is not None
        return compute_nodes(boto3.Session(region_name=contract.fleet.region), contract.fleet)

    def wait_for_fleet(self, contract: Outputs, timeout: float) -> list[Node]:
        from targets.aws.discovery import wait_for_nodes

        assert contract.fleet is not None
        return wait_for_nodes(boto3.Session(region_name=contract.fleet.region), contract.fleet, timeout)

    def before_destroy(self, record: Record, contract: Outputs | None, console: Console) -> None:
        """The compute instances the head launched go first: their interfaces would keep the network in use."""
        from targets.aws.launched_nodes import terminate_launched

        region = contract.region if contract else record.region
        if region is None:
            return  # a deployment that died before it recorded a region launched no node either
        vpc_id = contract.fleet.vpc_id if contract and contract.fleet else None
        gone = terminate_launched(boto3.Session(region_name=region), record.name, vpc_id)
        if gone:
            console.print(f"terminated {len(gone)} compute instance(s) the head launched: {', '.join(gone)}",
                          markup=False, highlight=False)

    def leftovers(self, record: Record, contract: Outputs | None) -> Leftovers | None:
        """Also keeps the final snapshots of the volumes that asked for one (destroy just took them)."""
        from targets.aws.final_snapshots import final_snapshots
        from targets.aws.leftovers import tagged_leftovers

        region = contract.region if contract else record.region
        if region is None:
            return None
        session = boto3.Session(region_name=region)
        kept = kept_volumes(contract)
        snapshots = final_snapshots(session, record.name, [v.name for v in contract.volumes if v.snapshot_on_destroy]
                                    if contract else [])
        if snapshots:
            kept["final snapshots"] = snapshots
        return Leftovers(tagged_leftovers(session, ENVIRONMENT_TAG, record.name, keep=kept_ids(kept)), kept)

    def run_task(self, contract: Outputs, command: list[str] | None, timeout: float,
                 on_log: Callable[[str], None]) -> int:
        from targets.aws.ecs_tasks import run_task

        service = contract.containers
        assert service is not None
        return run_task(boto3.Session(region_name=service.region), service, command, timeout=timeout, on_log=on_log)

    def _submit(self, spark: SparkCluster, job: SparkJob, records: JobRecords, on_state: OnState,
                ) -> CloudSparkResult:
        from targets.aws import emr_steps

        return emr_steps.submit_emr(boto3.Session(region_name=spark.region), spark, job.script, records,
                                    input=job.input, output=job.output, args=job.args, timeout=job.timeout,
                                    on_state=on_state)

    def _follow(self, spark: SparkCluster, record: SparkJobRecord, records: JobRecords, timeout: float,
                on_state: OnState) -> CloudSparkResult:
        from targets.aws import emr_steps

        return emr_steps.follow_emr(boto3.Session(region_name=spark.region), spark, record, records,
                                    timeout=timeout, on_state=on_state)


BACKEND = AwsBackend()
