"""The one interface every target implements (ElastiCluster's provider idea, mrjob's runners): bring an
environment up, give its outputs contract, find its compute nodes, run its one-off work, take it down and say
what is left. Tasks never ask which cloud they talk to; the registry (``targets.registry``) picks the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.console import Console

from spec.environment import Environment
from spec.outputs import Node, Outputs
from targets.errors import TargetError

if TYPE_CHECKING:
    from targets.spark_jobs import CloudSparkResult

Confirm = Callable[[str], bool]  # asked a question, says yes or no
ConfirmDestroy = Callable[[str, list[str]], bool]  # shown the environment and what goes, says yes or no


@dataclass(frozen=True)
class Record:
    """What this machine knows of an environment before reading its contract: its name, its target and, for a
    cloud environment, its Pulumi stack (and region, for the leftover check of a deployment that died early)."""

    name: str
    target: str
    stack: str | None = None
    region: str | None = None
    # the contract, when finding the environment already read it from its stack (not read twice in one task)
    fresh: Outputs | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class UpRequest:
    stack: str | None = None  # the Pulumi stack (cloud targets)
    nodes: int | None = None  # --nodes: already in the spec; a cloud stack also gets it in its config
    yes: bool = False  # deploy without asking
    confirm: Confirm = lambda _question: False


@dataclass(frozen=True)
class SparkJob:
    script: Path
    input: str | None
    output: str | None
    args: Sequence[str]
    timeout: float


@dataclass(frozen=True)
class SparkRun:
    """How a Spark job ended, whoever ran it: its exit code, why it failed, where its results went."""

    exit_code: int
    cause: str | None = None
    output_dir: str | None = None
    stdout: str = ""
    stderr: str = ""

    @classmethod
    def of_cloud(cls, result: CloudSparkResult) -> SparkRun:
        return cls(exit_code=result.exit_code, cause=result.cause,
                   output_dir=str(result.output_dir) if result.output_dir else None, stdout=result.stdout)


class Backend(ABC):
    target: ClassVar[str]

    @abstractmethod
    def up(self, env: Environment, request: UpRequest, console: Console) -> Outputs:
        """Build (or update) the environment and return its contract once every node has finished booting."""

    @abstractmethod
    def contract(self, record: Record, console: Console) -> Outputs:
        """The environment's outputs contract as its source of truth gives it (compute nodes not yet found)."""

    @abstractmethod
    def destroy(self, record: Record, console: Console, confirm: ConfirmDestroy) -> None:
        """Take the environment down; ``confirm`` sees what goes first (cloud). Says "destroyed" only after it is."""

    @abstractmethod
    def compute_nodes(self, contract: Outputs) -> list[Node]:
        """The compute nodes running now (a cloud fleet is found in the stack's scaling group; a local cluster's are
        in its contract)."""

    @abstractmethod
    def scale(self, record: Record, contract: Outputs, partition: str, floor: int, console: Console) -> Outputs:
        """Make ``floor`` nodes of ``partition`` always on in the running cluster, and record it where the target's
        next `up` and its contract read it; returns the new contract."""

    def run_task(self, contract: Outputs, command: list[str] | None, timeout: float,
                 on_log: Callable[[str], None]) -> int:
        raise TargetError(f"the {self.target} target has no container service (stack containers or full, on aws "
                          "or azure)")

    @abstractmethod
    def submit_spark(self, contract: Outputs, job: SparkJob, console: Console) -> SparkRun: ...

    def attach_spark(self, contract: Outputs, job_id: str, timeout: float, console: Console) -> SparkRun:
        raise TargetError(f"submit-spark --attach {job_id}: a {self.target} cluster's Spark jobs run in the "
                          "foreground of their submit; there is nothing to attach to")
