"""The Azure target: a stack of this project's program (``targets.cloud``) with the Azure SDK for what follows
`up`: the compute nodes (and the head-created VMs deleted before destroy), container group runs, Livy batches, and
the leftover check after destroy, all in the subscription and resource group the outputs name, with Azure's default
credential chain."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from spec.outputs import ENVIRONMENT_TAG, AzureScope, Node, Outputs, SparkCluster
from targets.backend import Record, SparkJob
from targets.cloud import OnState, PulumiBackend
from targets.errors import TargetError
from targets.kept import Leftovers, kept_ids, kept_volumes
from targets.spark_job_records import JobRecords, SparkJobRecord
from targets.spark_jobs import CloudSparkResult


class AzureBackend(PulumiBackend):
    target = "azure"
    job_word = "batch"

    def _fleet_nodes(self, contract: Outputs) -> list[Node]:
        from targets.azure import discovery, session

        assert contract.fleet is not None
        scope = _scope(contract)
        return discovery.compute_nodes(session.for_scope(scope), scope, contract.fleet)

    def wait_for_fleet(self, contract: Outputs, timeout: float) -> list[Node]:
        from targets.azure import discovery, session

        assert contract.fleet is not None
        scope = _scope(contract)
        return discovery.wait_for_nodes(session.for_scope(scope), scope, contract.fleet, timeout)

    def before_destroy(self, record: Record, contract: Outputs | None, console: Console) -> None:
        """The compute VMs the head created go first: their NICs would keep the subnet and scale sets in use."""
        from targets.azure import session
        from targets.azure.launched_vms import delete_launched

        if contract is None or contract.azure is None:
            return  # a deployment that died before its outputs named its resource group created no head either
        gone = delete_launched(session.for_scope(contract.azure), contract.azure, record.name)
        if gone:
            console.print(f"deleted {len(gone)} compute VM(s) the head created: {', '.join(gone)}", markup=False,
                          highlight=False)

    def leftovers(self, record: Record, contract: Outputs | None) -> Leftovers | None:
        from targets.azure import leftovers, session

        if contract is None or contract.azure is None:
            return None  # the subscription to look in is only in the outputs
        kept = kept_volumes(contract)
        return Leftovers(leftovers.tagged_leftovers(session.for_scope(contract.azure), ENVIRONMENT_TAG, record.name,
                                                    keep=kept_ids(kept)), kept)

    def run_task(self, contract: Outputs, command: list[str] | None, timeout: float,
                 on_log: Callable[[str], None]) -> int:
        from targets.azure import session
        from targets.azure.container_tasks import run_task

        assert contract.containers is not None  # the task checks it
        scope = _scope(contract)
        return run_task(session.for_scope(scope), scope, contract.containers, command, timeout=timeout,
                        on_log=on_log)

    def _submit(self, spark: SparkCluster, job: SparkJob, records: JobRecords, on_state: OnState,
                ) -> CloudSparkResult:
        from targets.azure import livy

        return livy.submit_livy(spark, job.script, records, input=job.input, output=job.output, args=job.args,
                                timeout=job.timeout, on_state=on_state)

    def _follow(self, spark: SparkCluster, record: SparkJobRecord, records: JobRecords, timeout: float,
                on_state: OnState) -> CloudSparkResult:
        from targets.azure import livy

        return livy.follow_livy(spark, record, records, timeout=timeout, on_state=on_state)


def _scope(contract: Outputs) -> AzureScope:
    if contract.azure is None:
        raise TargetError(f"environment {contract.name!r}: its outputs name no Azure subscription and resource "
                          "group (written by an older version): run `invoke up` again to refresh them")
    return contract.azure


BACKEND = AzureBackend()
