"""The outputs contract: what every target produces and every post-deploy task reads.

Its keys are the keys of ``pulumi stack output --json``; the local target writes the same object to
its state file. Tasks after ``up`` read nothing else, so a task works the same on every target.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, model_validator

from spec import state_format

Target = Literal["local", "aws", "azure"]
# Every cloud resource of an environment carries this tag with the environment's name: discovery and
# the leftover check after destroy look for it.
ENVIRONMENT_TAG = "chpc:environment"
NODE_TAG = "chpc:node"  # the Slurm node an instance the head launched is (components/boot/ec2_power.py tags it)
# ... and each volume the stack makes this one with its name in the spec: the next `up` finds a retained volume by
# both, and destroy's check finds a volume's final snapshot by them (AWS copies a volume's tags onto it).
VOLUME_TAG = "chpc:volume"


class NoSuchNode(LookupError):
    """The user named a node the environment does not have, or asked to reach a cluster it does not have: exit 2."""


def volume_identity(environment: str, volume: str) -> dict[str, str]:
    """The tags that say whose volume (or final snapshot) it is: environment and volume name."""
    return {ENVIRONMENT_TAG: environment, VOLUME_TAG: volume}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Node(_Strict):
    """A machine the toolkit reaches over SSH; ``host_key`` is pinned ("ssh-ed25519 AAAA...")."""

    name: str
    address: str
    host_key: str


class Volume(_Strict):
    """A block volume on one node; ``device`` is a path, or ``volume_id`` is resolved on the node.

    What destroy does with it: ``retain`` keeps it (and the next `up` attaches it again), ``existing`` marks a volume
    the stack attached but did not make (only detached), ``snapshot_on_destroy`` has it snapshotted, then deleted."""

    name: str
    node: str
    mount: str
    device: str | None = None
    volume_id: str | None = None
    fs_type: Literal["ext4", "xfs"] = "ext4"
    retain: bool = False
    existing: bool = False
    snapshot_on_destroy: bool = False

    @property
    def kept(self) -> bool:
        """Whether it outlives the environment's destroy."""
        return self.retain or self.existing


class SharedFs(_Strict):
    """The file system every node mounts at the same path (EFS, Azure Files, or a local bind)."""

    kind: Literal["bind", "efs", "nfs"]
    source: str
    mount: str
    options: str = ""


class ComputeFleet(_Strict):
    """Compute nodes that come and go (those an AWS head launches, a scale set's on Azure): found when a task runs,
    all sharing one pinned host key; ``expected`` of them run from ``up`` on.

    ``vpc_id`` (aws) and ``group`` (the scale set's name; an Auto Scaling group's in an older AWS contract) scope
    the search to what the stack itself made: the tag holds only the environment's name, which another stack, VPC
    or account may share. A contract saved before they were exported has neither, and its fleet is found by the tag
    alone, as it was."""

    provider: Literal["aws", "azure"]
    region: str
    tag_key: str
    tag_value: str
    host_key: str
    expected: int
    group: str | None = None
    vpc_id: str | None = None


class ComputeMachine(_Strict):
    """What the compute nodes run on, so that a measurement between them can be judged (`invoke bench-network`):
    their machine type and the networking they have (not only what the spec asked: an Azure size with accelerated
    networking gets it anyway). ``none``: plain TCP (on the local target, over a bridge); ``enhanced``: ENA or
    accelerated networking; ``rdma``: EFA or InfiniBand."""

    instance_type: str
    networking: Literal["none", "enhanced", "rdma"] = "none"


class SlurmPartition(_Strict):
    """A Slurm partition as deployed: ``min`` of its nodes run from ``up`` to ``destroy``, the rest up to ``max``
    start when a job waits for them and stop when idle. ``nodes`` names every node it can have, the always-on ones
    first; it is empty where a scaling group names its nodes (a cloud fleet). ``gpus``: each node's GPUs Slurm hands
    out (a contract written before GPU partitions has none)."""

    name: str
    instance_type: str
    min: int
    max: int
    nodes: list[str] = []
    gpus: int = 0

    @property
    def elastic_nodes(self) -> list[str]:
        """The nodes that start and stop with the work."""
        return self.nodes[self.min:]


class AzureScope(_Strict):
    """Where an Azure environment's resources live: every Azure API call after ``up`` names these."""

    subscription_id: str
    resource_group: str


class ContainerService(_Strict):
    """What `invoke run-task` needs to start a one-off task of the environment's container service. On azure
    the service's container group is the definition a one-off run copies (Azure Container Instances has no
    task definitions); the resource group and subscription are in ``Outputs.azure``."""

    provider: Literal["aws", "azure"]
    region: str
    cluster: str  # the ECS cluster name (aws), the service's container group name (azure)
    task_definition: str  # the task definition ARN (aws), the service's container group ARM id (azure)
    container: str  # the container's name in the definition
    subnets: list[str]  # where tasks run: the private subnet ids (aws), the delegated subnet's ARM id (azure)
    # the tasks' security groups (aws); the network security group on the delegated subnet, which applies by
    # itself (azure)
    security_groups: list[str]
    log_group: str  # the CloudWatch log group (aws), the Log Analytics workspace's customer id (azure)


class SparkCluster(_Strict):
    """Where `invoke submit-spark` sends a script: a standalone master (local), an EMR cluster (aws), an HDInsight
    cluster's Livy endpoint (azure). ``password`` is masked in repr and logs, written in clear only by
    ``Outputs.save`` (a 0600 file)."""

    provider: Literal["local", "aws", "azure"]
    # spark://host:7077 (local), the EMR cluster id j-... (aws), https://<cluster>.azurehdinsight.net/livy (azure)
    master: str
    region: str | None = None
    # where scripts, modules and inputs are uploaded: a bucket name (aws), a container URL https://... (azure)
    bucket: str | None = None
    log_uri: str | None = None  # where EMR writes step logs (s3://...)
    user: str | None = None  # the cluster login Livy takes (azure)
    password: SecretStr | None = None

    @field_serializer("password", when_used="json")
    def _reveal(self, password: SecretStr | None) -> str | None:
        """JSON is the saved contract, which must round-trip the password; Python dumps and repr stay masked."""
        return password.get_secret_value() if password else None


class Outputs(_Strict):
    """The whole contract. ``head`` is the only address a user's machine connects to."""

    target: Target
    name: str
    region: str | None = None
    ssh_user: str
    # path of the private key on the user's machine; a leading ~ is the home of whoever runs the task
    ssh_private_key: str = Field(description="path of the private key on the user's machine")
    head: Node | None = None  # None: an environment without a cluster (containers only)
    computes: list[Node] = []
    volumes: list[Volume] = []
    shared: SharedFs | None = None
    partitions: list[SlurmPartition] = []  # the first is Slurm's default
    fleet: ComputeFleet | None = None
    compute_machine: ComputeMachine | None = None  # None: deployed before the contract had it
    containers: ContainerService | None = None
    spark: SparkCluster | None = None
    azure: AzureScope | None = None  # target azure only

    @model_validator(mode="before")
    @classmethod
    def _one_partition_before(cls, data: Any) -> Any:
        """A contract written before partitions named only Slurm's one partition (``slurm_partition``): all its
        compute nodes, always on."""
        if isinstance(data, dict) and "slurm_partition" in data and "partitions" not in data:
            data = dict(data)
            name = data.pop("slurm_partition")
            computes = [node.get("name") for node in data.get("computes") or [] if isinstance(node, dict)]
            fleet = data.get("fleet") if isinstance(data.get("fleet"), dict) else {}
            machine = data.get("compute_machine") if isinstance(data.get("compute_machine"), dict) else {}
            count = len(computes) or fleet.get("expected", 0)
            data["partitions"] = [{"name": name, "instance_type": machine.get("instance_type", "unknown"),
                                   "min": count, "max": count, "nodes": computes}]
        return data

    @classmethod
    def readable_fields(cls) -> set[str]:
        """The fields a saved contract may have: this version's, and those it reads from earlier ones."""
        return set(cls.model_fields) | {"slurm_partition"}

    @property
    def default_partition(self) -> str:
        """The partition a job goes to unless it names one (Slurm's default)."""
        return self.partitions[0].name if self.partitions else "compute"

    def partition(self, name: str) -> SlurmPartition:
        """Partition ``name``, or NoSuchNode naming the ones there are."""
        for partition in self.partitions:
            if partition.name == name:
                return partition
        known = ", ".join(p.name for p in self.partitions) or "none"
        raise NoSuchNode(f"no partition named {name!r} in environment {self.name!r} (partitions: {known})")

    def elastic_nodes(self) -> set[str]:
        """The compute nodes that start and stop with the work: a task reaches them only while they run."""
        return {name for partition in self.partitions for name in partition.elastic_nodes}

    def nodes(self) -> list[Node]:
        return [self.head, *self.computes] if self.head else []

    def cluster_head(self) -> Node:
        """The head, or NoSuchNode saying this environment has no cluster to reach."""
        if self.head is None:
            raise NoSuchNode(f"environment {self.name!r} has no cluster (containers only): nothing to reach over SSH")
        return self.head

    def node(self, name: str) -> Node:
        for node in self.nodes():
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes())
        raise NoSuchNode(f"no node named {name!r} in environment {self.name!r} (nodes: {known})")

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600: the file names the private key and the pinned keys."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(state_format.dumps(json.loads(self.model_dump_json())))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Outputs:
        """The contract saved at ``path``; StateFileError or ValidationError when this version cannot read it."""
        return cls.model_validate(state_format.read(path))
