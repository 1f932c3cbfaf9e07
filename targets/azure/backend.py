"""The Azure target: a stack of this project's program (``targets.cloud``) with the Azure SDK for what follows
`up`: the scale set's nodes, container group runs, Livy batches, and the leftover check after destroy, all in the
subscription and resource group the outputs name, with Azure's default credential chain."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from spec.outputs import ENVIRONMENT_TAG, AzureScope, Node, Outputs
from targets.backend import Record, SparkJob, SparkRun
from targets.cloud import PulumiBackend
from targets.errors import TargetError
from targets.spark_job_records import JobRecords


class AzureBackend(PulumiBackend):
    target = "azure"

    def compute_nodes(self, contract: Outputs) -> list[Node]:
        from targets.azure import discovery, session

        if contract.fleet is None:
            return list(contract.computes)
        scope = _scope(contract)
        return discovery.compute_nodes(session.for_scope(scope), scope, contract.fleet)

    def wait_for_fleet(self, contract: Outputs, timeout: float) -> list[Node]:
        from targets.azure import discovery, session

        assert contract.fleet is not None
        scope = _scope(contract)
        return discovery.wait_for_nodes(session.for_scope(scope), scope, contract.fleet, timeout)

    def leftovers(self, record: Record, contract: Outputs | None) -> list[str] | None:
        from targets.azure import leftovers, session

        if contract is None or contract.azure is None:
            return None  # the subscription to look in is only in the outputs
        kept = {v.volume_id for v in contract.volumes if v.retain and v.volume_id}
        return leftovers.tagged_leftovers(session.for_scope(contract.azure), ENVIRONMENT_TAG, record.name, keep=kept)

    def run_task(self, contract: Outputs, command: list[str] | None, timeout: float,
                 on_log: Callable[[str], None]) -> int:
        from targets.azure import session
        from targets.azure.container_tasks import run_task

        assert contract.containers is not None  # the task checks it
        scope = _scope(contract)
        return run_task(session.for_scope(scope), scope, contract.containers, command, timeout=timeout,
                        on_log=on_log)

    def submit_spark(self, contract: Outputs, job: SparkJob, console: Console) -> SparkRun:
        from targets.azure import livy

        assert contract.spark is not None  # the task checks it
        with console.status("submitting") as status:
            result = livy.submit_livy(
                contract.spark, job.script, JobRecords.of(contract.name), input=job.input, output=job.output,
                args=job.args, timeout=job.timeout,
                on_state=lambda state, elapsed: status.update(f"batch {state}, {elapsed:.0f} s"))
        return SparkRun.of_cloud(result)

    def attach_spark(self, contract: Outputs, job_id: str, timeout: float, console: Console) -> SparkRun:
        from targets.azure import livy

        spark = contract.spark
        assert spark is not None  # the task checks it
        records = JobRecords.of(contract.name)
        record = records.load(job_id, spark)
        with console.status(f"attaching to batch {job_id}") as status:
            result = livy.follow_livy(spark, record, records, timeout=timeout,
                                      on_state=lambda state, elapsed: status.update(f"batch {state}, {elapsed:.0f} s"))
        return SparkRun.of_cloud(result)


def _scope(contract: Outputs) -> AzureScope:
    if contract.azure is None:
        raise TargetError(f"environment {contract.name!r}: its outputs name no Azure subscription and resource "
                          "group (written by an older version): run `invoke up` again to refresh them")
    return contract.azure


BACKEND = AzureBackend()
