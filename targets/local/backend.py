"""The local target behind the one backend interface: a cluster of namespaces on this machine, whose own state
folder is the source of truth (there is no stack to ask)."""

from __future__ import annotations

from rich.console import Console

from spec.environment import Environment
from spec.outputs import Node, Outputs
from targets import state
from targets.backend import Backend, ConfirmDestroy, Record, SparkJob, SparkRun, UpRequest
from targets.errors import TargetError


class LocalBackend(Backend):
    target = "local"

    def up(self, env: Environment, request: UpRequest, console: Console) -> Outputs:
        from targets.local import target

        return target.up(env, console)

    def contract(self, record: Record, console: Console) -> Outputs:
        from targets.environments import parse_contract
        from targets.local.journal import Journal

        path = state.outputs_path(record.name)
        if not path.exists():
            raise TargetError(f"environment {record.name!r} is not up: its `invoke up` did not finish; "
                              f"`invoke destroy --name {record.name}` takes down what it left")
        remedy = state.destroy_remedy(record.name)
        values = state.read_state(path, remedy, known=Outputs.readable_fields())
        contract = parse_contract(values, f"the saved outputs {path}", remedy)
        Journal.load(record.name)  # a journal this version cannot read is named now, not at destroy
        return contract

    def destroy(self, record: Record, console: Console, confirm: ConfirmDestroy) -> None:
        from targets.local import target

        target.destroy(record.name, console)

    def compute_nodes(self, contract: Outputs) -> list[Node]:
        """The always-on compute nodes, and the elastic ones running now (their node's init is alive)."""
        from targets.local import node
        from targets.local.journal import Journal

        elastic = contract.elastic_nodes()
        if not elastic:
            return list(contract.computes)
        inits = Journal.load(contract.name).inits
        return [n for n in contract.computes
                if n.name not in elastic or (n.name in inits and node.alive(inits[n.name]))]

    def scale(self, record: Record, contract: Outputs, partition: str, floor: int, console: Console) -> Outputs:
        from targets.local.scale import scale

        return scale(contract.name, partition, floor, console)

    def submit_spark(self, contract: Outputs, job: SparkJob, console: Console) -> SparkRun:
        from remote.pool import Pool
        from remote.spark_job import submit_local

        assert contract.spark is not None
        with Pool(contract) as pool:
            result = submit_local(pool, job.script, shared_mount=contract.shared.mount if contract.shared else "/",
                                  master=contract.spark.master, input=job.input, output=job.output, args=job.args,
                                  timeout=job.timeout, console=console)
        return SparkRun(exit_code=result.exit_code, cause=result.cause or None, output_dir=result.output_dir,
                        stdout=result.stdout, stderr=result.stderr)


BACKEND = LocalBackend()
