"""What the AWS and Azure backends share: a Pulumi stack of this project is the environment.

`up` shows what it will deploy and asks (unless ``--yes``), records the stack before the deployment starts (a
deployment that dies half way can still be destroyed), deploys through the Automation API, then waits for the
compute fleet and for every node to finish booting. The contract is the stack's outputs, cached on this machine;
`destroy` lists the stack's resources first and afterwards checks that nothing tagged with the environment's
name is left but what it keeps on purpose (``targets.kept``), which it names.
"""

from __future__ import annotations

import shutil
from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

from rich.console import Console
from rich.text import Text

from remote.progress import Update, progress
from spec.environment import Environment
from spec.outputs import ENVIRONMENT_TAG, Node, Outputs, SparkCluster
from targets import environments, pulumi_stack, state
from targets.backend import Backend, ConfirmDestroy, Record, SparkJob, SparkRun, UpRequest
from targets.errors import TargetError, UsageError
from targets.kept import Leftovers, kept_line
from targets.slurm_floor import CLOUD_ROLES, Roles
from targets.spark_job_records import JobRecords, SparkJobRecord
from targets.spark_jobs import CloudSparkResult

OnState = Callable[[str, float], None]  # a job's state and the seconds since it started
# How long `up` waits for a cloud fleet's nodes to run (capacity is granted asynchronously; an AWS head launches its
# always-on nodes once it has booted).
FLEET_TIMEOUT = 900.0
# How long `up` waits for every node to finish its boot (packages, roles, a volume's attachment, the shared file
# system's mount targets: the storage role alone may wait 300 s for each).
BOOT_TIMEOUT = 1800.0


class PulumiBackend(Backend):
    """A cloud target: its environments are stacks of this project's Pulumi program."""

    fleet_timeout: float = FLEET_TIMEOUT
    boot_timeout: float = BOOT_TIMEOUT
    roles: Roles = CLOUD_ROLES  # where its nodes keep the toolkit's roles (`invoke scale` runs the slurm role again)
    job_word: ClassVar[str]  # what its Spark service calls a job: "step" (EMR), "batch" (Livy)

    @abstractmethod
    def _submit(self, spark: SparkCluster, job: SparkJob, records: JobRecords, on_state: OnState,
                ) -> CloudSparkResult:
        """Submit ``job`` to the cluster, record it, follow it to its end."""

    @abstractmethod
    def _follow(self, spark: SparkCluster, record: SparkJobRecord, records: JobRecords, timeout: float,
                on_state: OnState) -> CloudSparkResult:
        """Follow a recorded job again to its end."""

    def submit_spark(self, contract: Outputs, job: SparkJob, console: Console) -> SparkRun:
        assert contract.spark is not None  # the task checks it
        with progress(console, "submitting") as update:
            result = self._submit(contract.spark, job, JobRecords.of(contract.name), self._on_state(update))
        return _shown(result, console)

    def attach_spark(self, contract: Outputs, job_id: str, timeout: float, console: Console) -> SparkRun:
        assert contract.spark is not None  # the task checks it
        records = JobRecords.of(contract.name)
        record = records.load(job_id, contract.spark)
        with progress(console, f"attaching to {self.job_word} {job_id}") as update:
            result = self._follow(contract.spark, record, records, timeout, self._on_state(update))
        return _shown(result, console)

    def scale(self, record: Record, contract: Outputs, partition: str, floor: int, console: Console) -> Outputs:
        from targets.stack_scale import scale

        return scale(self, record, contract, partition, floor, console)

    def _on_state(self, update: Update) -> OnState:
        return lambda state, elapsed: update(f"{self.job_word} {state}, {elapsed:.0f} s", key=state)

    def compute_nodes(self, contract: Outputs) -> list[Node]:
        return self._fleet_nodes(contract) if contract.fleet is not None else list(contract.computes)

    @abstractmethod
    def _fleet_nodes(self, contract: Outputs) -> list[Node]:
        """The compute fleet's running nodes, found among the stack's own (its VPC, its scale set)."""

    @abstractmethod
    def wait_for_fleet(self, contract: Outputs, timeout: float) -> list[Node]:
        """Until the fleet's expected nodes run; one line naming what is missing after ``timeout``."""

    @abstractmethod
    def leftovers(self, record: Record, contract: Outputs | None) -> Leftovers | None:
        """What still carries the environment's tag after destroy, and what of it is kept on purpose (volumes the
        contract says destroy keeps, final snapshots); None when it cannot be looked for (what it needs is only in
        outputs the stack never had)."""

    def up(self, env: Environment, request: UpRequest, console: Console) -> Outputs:
        if request.stack is None:
            raise UsageError(f"target {env.target}: give --stack NAME (its spec is the stack's config, "
                             "Pulumi.<NAME>.yaml)")
        stack = request.stack
        pulumi_stack.require_cli()
        self.preview(env, stack, console)
        if not request.yes and not request.confirm(f"deploy {env.name} to {env.target} with stack {stack}?"):
            raise TargetError("not confirmed: nothing was deployed (give --yes to deploy without asking)")
        if request.nodes is not None:
            pulumi_stack.set_config_path(stack, "compute.count", str(request.nodes))
            console.print(f"stack {stack}: compute.count = {request.nodes} in its config")
        record = Record(name=env.name, target=env.target, stack=stack, region=env.region)
        environments.remember(record)
        values = pulumi_stack.up(stack, lambda line: console.print(line, markup=False, highlight=False))
        contract = environments.parse_contract(values, f"the outputs of stack {stack}")
        environments.cache(record, contract)
        running = contract
        if contract.fleet is not None:
            with progress(console, f"waiting for {contract.fleet.expected} compute nodes to run"):
                nodes = self.wait_for_fleet(contract, self.fleet_timeout)
            console.print(f"{len(nodes)} compute nodes running: {', '.join(n.name for n in nodes)}")
            running = contract.model_copy(update={"computes": nodes})
        if running.head is not None:
            self._wait_for_boot(running, console)
        return contract

    def _wait_for_boot(self, contract: Outputs, console: Console) -> None:
        """Until the head and every compute node say their boot is done; a failed or unfinished one is named with
        its step and log (``remote.readiness``), and the environment stays as it is, for a look."""
        from remote.pool import Pool
        from remote.readiness import wait_for_boot

        names = [node.name for node in contract.nodes()]
        with progress(console, f"waiting for {len(names)} nodes to finish booting") as update, \
                Pool(contract, retry_auth=True) as pool:
            wait_for_boot(pool, names, timeout=self.boot_timeout,
                          on_progress=lambda now: update(f"booting: {now.line()}"))
        console.print(Text.assemble(("ready", "green"), f" {contract.name}: {len(names)} nodes booted; head at "
                                    f"{contract.cluster_head().address}"))

    def preview(self, env: Environment, stack: str, console: Console) -> None:
        """The offline plan of the program (what `invoke plan` shows) against what the stack holds now."""
        import stacks
        from spec.loader import check_private_key, read_public_key
        from targets.plan.report import plan
        from targets.up_summary import summary_lines

        public_key = read_public_key(env)  # the nodes authorise it: a missing key stops here, not mid-deploy
        check_private_key(env)
        result = plan(env, lambda: stacks.build(env, public_key))
        if result.errors:
            raise TargetError(f"the plan has {len(result.errors)} security error(s), first: "
                              f"{result.errors[0].line()}; `invoke plan --stack {stack}` lists them")
        try:
            deployed = pulumi_stack.resources(stack)
        except pulumi_stack.StackNotFound:
            deployed = []  # `up` creates it
        for line in summary_lines(result, deployed):
            console.print(line, markup=False, highlight=False)

    def contract(self, record: Record, console: Console) -> Outputs:
        """The stack's outputs, saved here as a cache; the cache alone when the Pulumi CLI is not installed."""
        if record.fresh is not None:
            return record.fresh
        if record.stack is not None and pulumi_stack.cli_available():
            values = pulumi_stack.outputs(record.stack)
            if not values:
                raise TargetError(f"stack {record.stack} has no outputs: environment {record.name!r} is not up "
                                  f"(its deployment did not finish?); `invoke destroy --name {record.name}` takes "
                                  "down what it left")
            contract = environments.parse_contract(values, f"the outputs of stack {record.stack}")
            environments.cache(record, contract)
            return contract
        path = state.outputs_path(record.name)
        if not path.exists():
            raise TargetError(f"environment {record.name!r} has no saved outputs and the Pulumi CLI is not installed "
                              f"to ask its stack ({pulumi_stack.INSTALL})")
        from targets.local.backend import BACKEND as LOCAL

        console.print(f"the Pulumi CLI is not installed: using the outputs saved at `invoke up` ({path})", style="dim",
                      markup=False)
        return LOCAL.contract(record, console)

    def destroy(self, record: Record, console: Console, confirm: ConfirmDestroy) -> None:
        if record.stack is None:
            raise TargetError(f"environment {record.name!r} names no Pulumi stack: `pulumi destroy -s STACK` with "
                              "the stack it was deployed with")
        path = state.outputs_path(record.name)
        contract = None
        if path.exists():
            try:
                contract = self.contract(record, console)
            except TargetError:
                contract = None  # a deployment that died half way: destroy what the stack holds all the same
        held = pulumi_stack.resources(record.stack)
        if not held:
            console.print(f"stack {record.stack} holds no resources: nothing to destroy; forgetting "
                          f"{record.name!r} here")
            shutil.rmtree(state.env_dir(record.name), ignore_errors=True)
            return
        if not confirm(record.name, [f"{kind} {name}" for kind, name in held]):
            raise TargetError("not confirmed: nothing was destroyed")
        self.before_destroy(record, contract, console)
        pulumi_stack.destroy(record.stack, lambda line: console.print(line, markup=False, highlight=False))
        console.print(Text.assemble(("destroyed", "green"), f" {record.name} (stack {record.stack}: {len(held)} "
                                    "resources)"))
        self._check_leftovers(record, contract, console)
        shutil.rmtree(state.env_dir(record.name), ignore_errors=True)

    def before_destroy(self, record: Record, contract: Outputs | None, console: Console) -> None:
        """What must go before Pulumi destroys the stack, which Pulumi does not know of (nothing by default)."""

    def _check_leftovers(self, record: Record, contract: Outputs | None, console: Console) -> None:
        found = self.leftovers(record, contract)
        if found is None:
            console.print(Text.assemble(("not checked for leftovers", "yellow"), ": the stack never gave the outputs "
                                        f"that say where to look; look for the tag {ENVIRONMENT_TAG}={record.name} "
                                        f"in the {record.target} console"))
            return
        if found.left:
            raise TargetError(f"destroyed, but {len(found.left)} tagged resource(s) remain: "
                              f"{'; '.join(found.left[:5])}{kept_line(found.kept)}")
        console.print(f"checked: nothing tagged {ENVIRONMENT_TAG}={record.name} remains{kept_line(found.kept)}",
                      markup=False, highlight=False)


def _shown(result: CloudSparkResult, console: Console) -> SparkRun:
    """The run for the task to print, once a note on what the driver printed (its log not read in time) is said."""
    if result.note:
        console.print(result.note, style="dim", markup=False, soft_wrap=True)
    return SparkRun.of_cloud(result)
