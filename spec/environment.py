"""The environment spec: what a user asks for, checked in full before any target spends money or root.

Sections validate on their own; what depends on the target (regions, disk types, defaults such as the
SSH user) is filled in and checked by :class:`Environment` once the sections are valid.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from spec.errors import invalid, refused, required
from spec.outputs import Target
from spec.partition_gpus import fit_gpus
from spec.stack_choice import PART_SECTIONS, Part, StackKind, choose_stack, parts_of
from spec.verdict import spec_findings

Networking = Literal["none", "enhanced", "rdma"]
FsType = Literal["ext4", "xfs"]
SharedKind = Literal["efs", "files", "local"]

NETWORKING_ALIASES = {"ena": "enhanced", "efa": "rdma", "accelerated": "enhanced", "infiniband": "rdma"}
AWS_VOLUME_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1")
AZURE_VOLUME_TYPES = ("Premium_LRS", "PremiumV2_LRS", "StandardSSD_LRS", "Standard_LRS")
VOLUME_TYPES = {
    "local": ("loop", *AWS_VOLUME_TYPES, *AZURE_VOLUME_TYPES),
    "aws": AWS_VOLUME_TYPES,
    "azure": AZURE_VOLUME_TYPES,
}
DEFAULT_VOLUME_TYPE = {"local": "loop", "aws": "gp3", "azure": "Premium_LRS"}
DEFAULT_SSH_USER = {"local": "root", "aws": "ec2-user", "azure": "azureuser"}
SHARED_KIND = {"local": "local", "aws": "efs", "azure": "files"}
INSTANCE_EXAMPLE = {"aws": "c5n.large", "azure": "Standard_D4s_v5"}
REGIONS = {
    "aws": (re.compile(r"[a-z]{2}(-gov)?-[a-z]{1,16}-[0-9]"), "an AWS region such as us-east-1", "us-east-1"),
    "azure": (re.compile(r"[a-z][a-z0-9]{0,49}"), "an Azure location such as westeurope or eastus2", "westeurope"),
}
# No field is longer; a longer value is refused before any pattern looks at it.
MAX_FIELD_LENGTH = 4096
# A mount on, above or inside one of these hides what the node runs on (each says what it would hide).
SYSTEM_DIRS = {
    "/bin": "programs", "/sbin": "programs", "/usr": "programs and libraries", "/lib": "libraries",
    "/lib32": "libraries", "/lib64": "the dynamic loader", "/libx32": "libraries", "/boot": "the kernel",
    "/etc": "configuration: sshd, munge, Slurm", "/dev": "devices", "/proc": "processes", "/sys": "the kernel's view",
    "/run": "sockets and PID files: munge, sshd", "/var/lib": "daemons' state: Slurm, munge, cloud-init, packages",
    "/var/log": "logs and the boot status up waits for", "/var/spool": "Slurm's spool: job scripts, state",
    "/var/run": "a link to /run", "/var/lock": "a link to /run/lock",
    "/root": "root's home and SSH keys",
    "/opt": "software outside packages: the toolkit's ansible bundle, EFA's libfabric, the HPC image's MPI, Spark",
}
# A mount on or above one of these hides what the node needs; one inside it (/home/alice/data) is fine. The SSH
# user's own home is refused too (:class:`Environment` knows the user): it holds the authorized_keys.
SYSTEM_PARENTS = {
    "/home": "users' homes, the SSH user's authorized_keys among them",
    "/tmp": "a folder every job writes to (a new file system's root is not world-writable)",
    "/var/tmp": "a folder every job writes to (a new file system's root is not world-writable)",
}
MOUNT_ALLOWED = "an absolute path of letters, digits, '.', '_', '-', such as /scratch"


def _one_of(*values: str) -> BeforeValidator:
    """Accept exactly one of ``values``, with a message that lists them."""

    def check(value: object) -> object:
        if isinstance(value, str) and value in values:
            return value
        raise invalid(", ".join(values))

    return BeforeValidator(check)


def _matching(pattern: str, allowed: str) -> BeforeValidator:
    """Accept a string that fully matches ``pattern``; ``allowed`` describes it in words."""
    regex = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and len(value) <= MAX_FIELD_LENGTH and regex.fullmatch(value):
            return value
        raise invalid(allowed)

    return BeforeValidator(check)


def _int_range(low: int, high: int) -> WrapValidator:
    """An integer (``"4"`` from Pulumi config too, but not ``true``) from ``low`` to ``high``."""

    def check(value: object, handler: ValidatorFunctionWrapHandler) -> int:
        if not isinstance(value, bool):
            try:
                number = handler(value)
            except ValidationError:
                number = None
            if number is not None and low <= number <= high:
                return number
        raise invalid(f"an integer from {low} to {high}")

    return WrapValidator(check)


def _one_of_int(*values: int) -> BeforeValidator:
    """One of a few integers (Fargate's CPU units), ``"512"`` from Pulumi config too."""

    def check(value: object) -> object:
        if not isinstance(value, bool) and str(value) in {str(v) for v in values}:
            return int(str(value))
        raise invalid(", ".join(map(str, values)))

    return BeforeValidator(check)


def _networking(value: object) -> object:
    """Canonical names and the providers' names for them, in any case."""
    if isinstance(value, str):
        name = NETWORKING_ALIASES.get(value.lower(), value.lower())
        if name in get_args(Networking):
            return name
    raise invalid(f"{', '.join(get_args(Networking))} (aliases: {', '.join(NETWORKING_ALIASES)})")


def _network(value: object) -> object:
    if isinstance(value, str) and len(value) <= 64:  # the longest IPv6 network is 43 characters
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError:
            pass
    raise invalid("an IPv4 or IPv6 network without host bits, such as 198.51.100.0/24")


def _mount(value: object) -> object:
    """An absolute path, normalised (``//a/../b/`` is ``/b``), that leaves the system alone."""
    if not (isinstance(value, str) and re.fullmatch(r"/[A-Za-z0-9._/-]{0,254}", value)):
        raise invalid(MOUNT_ALLOWED)
    path = "/" + posixpath.normpath(value).lstrip("/")
    if path == "/":
        raise invalid("a mount point other than / (it would hide the whole system)")
    for folder, holds in SYSTEM_DIRS.items():
        if within(path, folder) or within(folder, path):
            raise invalid(f"a mount point neither on, above nor inside {folder} ({holds})")
    for folder, holds in SYSTEM_PARENTS.items():
        if within(folder, path):
            raise invalid(f"a mount point neither on nor above {folder} ({holds}); inside it is fine")
    return path


def within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or inside it (both normalised absolute paths)."""
    return f"{path}/".startswith(f"{folder.rstrip('/')}/")


# An environment's name: also its folder under the state root, its tag value and part of its host names.
NAME_PATTERN = r"[a-z][a-z0-9-]{0,19}"
NAME_ALLOWED = "a lowercase letter, then up to 19 lowercase letters, digits or '-'"
Name = Annotated[str, _matching(NAME_PATTERN, NAME_ALLOWED)]
VolumeName = Annotated[str, _matching(r"[a-z][a-z0-9-]{0,30}",
                                      "a lowercase letter, then up to 30 lowercase letters, digits or '-'")]
InstanceType = Annotated[str, _matching(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                                        "an instance type name such as c5n.large or Standard_D4s_v5")]
User = Annotated[str, _matching(r"[a-z_][a-z0-9_-]{0,31}", "a login name such as ec2-user")]
KeyPath = Annotated[str, _matching(r"[^\x00-\x1f\x7f]{1,4096}", "a file path such as ~/.ssh/id_ed25519.pub")]
Mount = Annotated[str, BeforeValidator(_mount)]
SubnetId = Annotated[str, _matching(r"subnet-[0-9a-f]{8,17}", "a subnet id such as subnet-0a1b2c3d")]
EBS_VOLUME_ID = r"vol-[0-9a-f]{8,17}"
EBS_SNAPSHOT_ID = r"snap-[0-9a-f]{8,17}"


def azure_id(kind: str) -> str:
    """The pattern of a Microsoft.Compute resource id of ``kind`` (disks, snapshots); Azure ids ignore case."""
    return (r"(?i:/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
            rf"/resourceGroups/[-\w.()]{{1,90}}/providers/Microsoft\.Compute/{kind}/[-\w.]{{1,80}})")


def azure_id_example(kind: str) -> str:
    return f"/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/{kind}/<name>"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ssh(_Section):
    """How the toolkit logs in. Key paths keep their ``~``: it is expanded where the key is read."""

    user: User | None = None
    allowed_cidr: Annotated[str, BeforeValidator(_network)] | None = None
    public_key: KeyPath | None = None
    private_key: KeyPath | None = None
    # An allowed_cidr open to the world (0.0.0.0/0, ::/0), or broader than these prefix lengths, is refused unless
    # allow_world says so explicitly (components/security.py says why /8 and /32).
    allow_world: bool = False
    min_prefix: Annotated[int, _int_range(0, 32)] = 8
    min_prefix_v6: Annotated[int, _int_range(0, 128)] = 32

    @property
    def min_prefixes(self) -> tuple[int, int]:
        """(IPv4, IPv6): the broadest source networks SSH takes without allow_world."""
        return self.min_prefix, self.min_prefix_v6

    @model_validator(mode="after")
    def _private_beside_public(self) -> Ssh:
        if self.private_key is None and self.public_key and self.public_key.endswith(".pub"):
            self.private_key = self.public_key.removesuffix(".pub")
        return self


class Head(_Section):
    instance_type: InstanceType | None = None


class Compute(_Section):
    count: Annotated[int, _int_range(1, 1000)] = 2
    instance_type: InstanceType | None = None
    networking: Annotated[Networking, BeforeValidator(_networking)] = "none"


PARTITION_NAME = r"[a-z][a-z0-9]{0,11}"
PARTITION_ALLOWED = "a lowercase letter, then up to 11 lowercase letters or digits (its nodes: <name>-0, ...)"
# The local target's nodes share one /24 bridge network (targets/local/network.py), the head included.
LOCAL_MAX_NODES = 200


def _minutes(low: float, high: float) -> WrapValidator:
    """A number of minutes from ``low`` to ``high``; fractions too, so that a test can idle for seconds."""

    def check(value: object, handler: ValidatorFunctionWrapHandler) -> float:
        if not isinstance(value, bool) and isinstance(value, (int, float, str)):
            try:
                number = float(handler(value))
            except (ValidationError, ValueError):
                number = None
            if number is not None and low <= number <= high:
                return number
        raise invalid(f"a number of minutes from {low:g} to {high:g}")

    return WrapValidator(check)


class Partition(_Section):
    """A Slurm partition of one kind of compute node. ``min`` nodes run from ``up`` to ``destroy``; the others, up to
    ``max``, start when a job waits for them and stop after ``scaling.idle_minutes`` without one. ``instance_types``
    are tried in order when a cloud has no capacity for one; ``spot`` asks spot capacity first, then on-demand."""

    name: Annotated[str, _matching(PARTITION_NAME, PARTITION_ALLOWED)]
    instance_type: InstanceType | None = None
    instance_types: list[InstanceType] = []
    min: Annotated[int, _int_range(0, 1000)] = 0
    max: Annotated[int, _int_range(1, 1000)]
    networking: Annotated[Networking, BeforeValidator(_networking)] = "none"
    spot: bool = False
    # GPUs per node Slurm hands out (Gres=gpu): by default all its type has (spec/partition_gpus.py)
    gpus: Annotated[int, _int_range(0, 16)] = 0

    @model_validator(mode="after")
    def _whole(self) -> Partition:
        """One way to name the types; the first of them is the partition's ``instance_type`` from here on."""
        if self.instance_type is not None and self.instance_types and self.instance_type != self.instance_types[0]:
            raise invalid("instance_type or instance_types, not both", "instance_types", self.instance_types)
        if self.instance_types:
            for index, name in enumerate(self.instance_types):
                if name in self.instance_types[:index]:
                    raise invalid("each instance type once", f"instance_types[{index}]", name)
            self.instance_type = self.instance_types[0]
        elif self.instance_type is not None:
            self.instance_types = [self.instance_type]
        if self.min > self.max:
            raise invalid(f"at most max ({self.max})", "min", self.min)
        return self

    @property
    def elastic(self) -> bool:
        """Whether some of its nodes start and stop with the work."""
        return self.min < self.max

    def type_field(self, order: int) -> str:
        """The field that names its ``order``-th instance type, below the partition."""
        return f"instance_types[{order}]" if len(self.instance_types) > 1 else "instance_type"

    def node_names(self) -> list[str]:
        """Every node it can have, the ``min`` always-on ones first."""
        return [f"{self.name}-{index}" for index in range(self.max)]


class Scaling(_Section):
    """When elastic nodes stop and how long one may take to start (Slurm's SuspendTime and ResumeTimeout)."""

    idle_minutes: Annotated[float, _minutes(0.1, 10080)] = 10
    resume_timeout_minutes: Annotated[float, _minutes(0.5, 120)] = 15

    def slurm_vars(self) -> dict[str, int]:
        """The slurm role's SuspendTime and ResumeTimeout, in whole seconds (at least one)."""
        return {"slurm_suspend_time": max(1, round(self.idle_minutes * 60)),
                "slurm_resume_timeout": max(1, round(self.resume_timeout_minutes * 60))}


class VolumeSource(_Section):
    """Where a volume comes from instead of empty: an existing volume (EBS ``volume_id``, Azure ``disk_id``),
    attached as it is, or a snapshot a new volume is made from. Which ids a target takes is checked by
    :class:`Environment`."""

    volume_id: Annotated[str, _matching(EBS_VOLUME_ID, "an EBS volume id such as vol-0a1b2c3d")] | None = None
    disk_id: Annotated[str, _matching(azure_id("disks"), "a managed disk's resource id such as "
                                      f"{azure_id_example('disks')}")] | None = None
    snapshot_id: Annotated[str, _matching(f"{EBS_SNAPSHOT_ID}|{azure_id('snapshots')}",
                                          "an EBS snapshot id such as snap-0a1b2c3d, or a snapshot's resource "
                                          f"id such as {azure_id_example('snapshots')}")] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VolumeSource:
        given = [field for field in type(self).model_fields if getattr(self, field) is not None]
        if len(given) != 1:
            raise invalid("exactly one of volume_id, disk_id, snapshot_id", "", {f: getattr(self, f) for f in given})
        return self

    @property
    def existing(self) -> str | None:
        """The id of the existing volume to attach, if that is what it names."""
        return self.volume_id or self.disk_id


class Volume(_Section):
    """A block volume on the head; ``type`` and ``from`` are checked against the target by :class:`Environment`.

    ``retain`` keeps the volume on destroy and the next ``up`` attaches it again; ``snapshot_on_destroy`` has
    destroy snapshot it before deleting it (only a deleted volume gets one, so not with ``retain``); ``from``
    attaches an existing volume as it is (no size or type of ours, never deleted) or makes one from a snapshot."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: VolumeName
    size_gb: Annotated[int, _int_range(1, 65536)] | None = None
    type: str | None = None
    iops: Annotated[int, _int_range(1, 256000)] | None = None
    throughput: Annotated[int, _int_range(1, 10000)] | None = None
    mount: Mount
    fs_type: Annotated[FsType, _one_of(*get_args(FsType))] = "ext4"
    encrypted: bool = True
    retain: bool = False
    snapshot_on_destroy: bool = False
    from_: VolumeSource | None = Field(default=None, alias="from")

    @model_validator(mode="after")
    def _origin(self) -> Volume:
        """What the volume's origin leaves to decide: an existing volume brings its own size and type and is
        never deleted; a new one needs a size unless its snapshot gives one; a kept one is never snapshotted."""
        existing = self.from_.existing if self.from_ else None
        if existing:
            for field in ("size_gb", "type", "iops", "throughput"):
                if getattr(self, field) is not None:
                    raise invalid(f"none with from {existing} (an existing volume keeps its own)", field,
                                  getattr(self, field))
            for field in ("retain", "snapshot_on_destroy"):
                if getattr(self, field):
                    raise invalid(f"false with from {existing} (destroy never deletes an existing volume)", field,
                                  True)
        elif self.size_gb is None and not (self.from_ and self.from_.snapshot_id):
            raise required("required (unless from names a snapshot, whose size is then the volume's)", "size_gb")
        if self.retain and self.snapshot_on_destroy:
            raise invalid("false with retain: true (a kept volume is never deleted, and a final snapshot is taken "
                          "only when it is)", "snapshot_on_destroy", True)
        return self


class Shared(_Section):
    """The file system all nodes share; ``kind`` must be the one the target provides."""

    kind: Annotated[SharedKind, _one_of(*get_args(SharedKind))]
    mount: Mount


class Storage(_Section):
    volumes: list[Volume] = []
    shared: Shared | None = None

    @model_validator(mode="after")
    def _unique(self) -> Storage:
        """Two volumes with one name or one mount point would overwrite each other on the nodes."""
        names: dict[str, int] = {}
        mounts: dict[str, int] = {}
        for index, volume in enumerate(self.volumes):
            if volume.name in names:
                raise invalid(f"a name no other volume has (volumes[{names[volume.name]}] has it)",
                              f"volumes[{index}].name", volume.name)
            if volume.mount in mounts:
                raise invalid(f"a mount point no other volume uses (volumes[{mounts[volume.mount]}] uses it)",
                              f"volumes[{index}].mount", volume.mount)
            names[volume.name] = mounts[volume.mount] = index
        if self.shared and self.shared.mount in mounts:
            raise invalid(f"a mount point no volume uses (volumes[{mounts[self.shared.mount]}] uses it)",
                          "shared.mount", self.shared.mount)
        return self


def _release_label(value: object) -> object:
    """``emr-X.Y.Z`` from 6.4.0 on: idle auto-termination, which the toolkit always sets, needs it."""
    match = re.fullmatch(r"emr-(\d{1,2})\.(\d{1,3})\.(\d{1,3})", value) if isinstance(value, str) else None
    if match and tuple(map(int, match.groups())) >= (6, 4, 0):
        return value
    raise invalid("an EMR release label from emr-6.4.0 on (idle auto-termination needs it), such as emr-7.5.0")


CLASSIFICATION = re.compile(r"[a-z][a-z0-9.-]{0,127}")  # EMR's: spark-defaults, spark-env, yarn-site, ...
PROPERTY = re.compile(r"[^\x00-\x1f\x7f]{1,1024}")


def _configurations(value: object) -> object:
    """``{classification: {property: value}}``; EMR takes every property as a string, so ``true`` and ``4``
    become "true" and "4" here, where a wrong one is named, rather than in the middle of a deploy."""
    if not isinstance(value, dict):
        raise invalid("a mapping of classifications (such as spark-defaults) to properties")
    result: dict[str, dict[str, str]] = {}
    for classification, properties in value.items():
        if not (isinstance(classification, str) and CLASSIFICATION.fullmatch(classification)):
            raise invalid("a configuration classification such as spark-defaults", str(classification),
                          classification)
        if not isinstance(properties, dict):
            raise invalid("a mapping of property names to values, such as {spark.executor.cores: 4}",
                          classification, properties)
        result[classification] = {}
        for name, item in properties.items():
            if not (isinstance(name, str) and PROPERTY.fullmatch(name)):
                raise invalid("a property name such as spark.executor.cores", f"{classification}.{name}", name)
            if not isinstance(item, (str, int, float)):  # bool is an int
                raise invalid("a string, a number or true/false", f"{classification}.{name}", item)
            result[classification][name] = str(item).lower() if isinstance(item, bool) else str(item)
    return result


Application = Annotated[str, _matching(r"[A-Za-z][A-Za-z0-9-]{0,63}", "an EMR application name such as Spark")]
ScriptPath = Annotated[str, _matching(r"[^\x00-\x1f\x7f]{1,4096}", "a script path such as bootstrap/install.sh")]
BucketName = Annotated[str, _matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name such as my-data")]


class SparkPrimary(_Section):
    """The primary (master) node: always on-demand, since losing it ends the cluster."""

    instance_type: InstanceType = "m5.xlarge"


class SparkCore(_Section):
    """Core nodes run executors and hold HDFS: on-demand by default, since a reclaimed one loses its blocks."""

    count: Annotated[int, _int_range(1, 1000)] = 2
    instance_type: InstanceType = "m5.xlarge"
    spot: bool = False


class SparkTask(_Section):
    """Task nodes only compute (no HDFS), so spot capacity is a safe default for them."""

    count: Annotated[int, _int_range(0, 1000)] = 0
    instance_type: InstanceType = "m5.xlarge"
    spot: bool = True


class Spark(_Section):
    """A Spark cluster beside Slurm; present means wanted, and it stops itself after the idle timeout."""

    release_label: Annotated[str, BeforeValidator(_release_label)] = "emr-7.5.0"
    applications: list[Application] = ["Spark", "Hadoop"]
    primary: SparkPrimary = Field(default_factory=SparkPrimary)
    core: SparkCore = Field(default_factory=SparkCore)
    task: SparkTask = Field(default_factory=SparkTask)
    # instance fleets: spot capacity that falls back to on-demand when EC2 has none (groups cannot fall back)
    fleets: bool = False
    bootstrap: list[ScriptPath] = []  # local scripts, uploaded by the stack and run on every node before Spark starts
    configurations: Annotated[dict[str, dict[str, str]], BeforeValidator(_configurations)] = {}
    step_concurrency: Annotated[int, _int_range(1, 256)] = 1
    # false: the cluster ends as soon as no step is left to run (at once when none is submitted right after `up`);
    # the next `up` creates a new one. True leaves ending to the idle timeout.
    keep_alive: bool = True
    idle_timeout_minutes: Annotated[int, _int_range(1, 10080)] = 60
    log_retention_days: Annotated[int, _int_range(1, 3650)] = 30
    read_buckets: list[BucketName] = []  # other buckets the jobs may read (inputs given as s3:// URIs)

    @model_validator(mode="after")
    def _runs_spark(self) -> Spark:
        """`invoke submit-spark` needs Spark on the cluster; an application named twice is a typo."""
        names = [name.lower() for name in self.applications]
        if "spark" not in names:
            raise invalid("a list that includes Spark", "applications", self.applications)
        for index, name in enumerate(names):
            if name in names[:index]:
                raise invalid("each application once", f"applications[{index}]", self.applications[index])
        return self


class Network(_Section):
    """The cloud network: a new VPC (``vpc_cidr``, one public + one private subnet per zone) or an
    existing one (``vpc_id`` with its subnet ids). NAT gives private nodes egress for packages."""

    vpc_cidr: Annotated[str, BeforeValidator(_network)] = "10.0.0.0/16"
    availability_zones: Annotated[int, _int_range(2, 6)] = 2
    nat: bool = True
    vpc_id: Annotated[str, _matching(r"vpc-[0-9a-f]{8,17}", "a VPC id such as vpc-0a1b2c3d")] | None = None
    public_subnet_ids: list[SubnetId] = []
    private_subnet_ids: list[SubnetId] = []

    @model_validator(mode="after")
    def _existing_whole(self) -> Network:
        """An existing VPC needs its subnets named; subnets without their VPC mean nothing."""
        if self.vpc_id and not (self.public_subnet_ids and self.private_subnet_ids):
            raise invalid("at least one subnet id when vpc_id is given", "private_subnet_ids"
                          if self.public_subnet_ids else "public_subnet_ids", [])
        if not self.vpc_id and (self.public_subnet_ids or self.private_subnet_ids):
            raise required("required when subnet ids are given", "vpc_id")
        return self


class Containers(_Section):
    """A container service: one image run as a service (``desired_count``) and as one-off tasks."""

    image: Annotated[str, _matching(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}",
                                    "an image reference such as public.ecr.aws/docker/library/python:3.12")]
    cpu: Annotated[int, _one_of_int(256, 512, 1024, 2048, 4096)] = 256
    memory_mb: Annotated[int, _int_range(512, 30720)] = 512
    port: Annotated[int, _int_range(1, 65535)] | None = None
    desired_count: Annotated[int, _int_range(0, 100)] = 1
    command: list[str] = []
    environment: dict[str, str] = {}
    # out of the VPC the tasks reach these TCP ports only: HTTPS (image pulls, logs, secrets) unless the app needs
    # more; every protocol and port to anywhere only when egress_all says so
    egress_ports: list[Annotated[int, _int_range(1, 65535)]] = [443]
    egress_all: bool = False


class Environment(_Section):
    name: Name = "hpc"
    target: Annotated[Target, _one_of(*get_args(Target))] = "local"
    # what to build: hpc (network + Slurm + storage), containers, spark (EMR / HDInsight), or full (two or more of
    # them); it follows from the sections present, and a given stack must agree with them (spec/stack_choice.py)
    stack: Annotated[StackKind, _one_of(*get_args(StackKind))] = "hpc"
    region: str | None = None
    ssh: Ssh = Field(default_factory=Ssh)
    head: Head = Field(default_factory=Head)
    # compute is the shorthand for one static partition named compute: validation turns it into that partition, so
    # everything downstream reads partitions (None when no Slurm is built), and compute is None from then on
    compute: Compute | None = None
    partitions: list[Partition] | None = None
    scaling: Scaling = Field(default_factory=Scaling)
    storage: Storage = Field(default_factory=Storage)
    spark: Spark | None = None
    containers: Containers | None = None
    network: Network = Field(default_factory=Network)
    _compute_shorthand: bool = PrivateAttr(default=False)  # the partitions were given as compute
    tags: dict[Annotated[str, _matching(r"[A-Za-z0-9 _.:/=+@-]{1,127}", "a tag key of letters, digits, "
                                         "spaces and _.:/=+@-")], str] = {}

    @model_validator(mode="after")
    def _fit_target(self) -> Environment:
        """Choose what to build from the sections, fill the defaults that depend on the target and check what only
        some targets allow; then judge the whole (:func:`spec.verdict.spec_findings`): its first error refuses it."""
        target = self.target
        self.stack = choose_stack(target, self.sections(), self.stack if "stack" in self.model_fields_set else None)
        if target != "local":
            regex, allowed, example = REGIONS[target]
            if self.region is None:
                raise required(f"required for target {target} (e.g. {example})", "region")
            if len(self.region) > MAX_FIELD_LENGTH or not regex.fullmatch(self.region):
                raise invalid(allowed, "region", self.region)
            if self.ssh.allowed_cidr is None:
                raise required(f"required for target {target} (the network you connect from, "
                               "e.g. 198.51.100.0/24)", "ssh.allowed_cidr")
        self.ssh.user = self.ssh.user or DEFAULT_SSH_USER[target]
        _spare_ssh_home(self.ssh.user, self.storage)
        self._fit_partitions()
        machines: list[tuple[str, Head | Compute | Partition]] = [("head", self.head)]
        machines += [(self.partition_field(index), partition) for index, partition in enumerate(self.slurm_partitions)]
        for section, machine in machines:
            if machine.instance_type is None and "hpc" in self.parts:
                if target != "local":
                    raise required(f"required for target {target} (e.g. {INSTANCE_EXAMPLE[target]})",
                                   f"{section}.instance_type")
                machine.instance_type = "local"
                if isinstance(machine, Partition):
                    machine.instance_types = ["local"]
        for index, partition in enumerate(self.slurm_partitions):
            partition.gpus = fit_gpus(target, partition, self.partition_field(index))
        for index, volume in enumerate(self.storage.volumes):
            _fit_volume_origin(volume, target, f"storage.volumes[{index}]")
            if volume.from_ and volume.from_.existing:
                continue  # an existing volume has the type it has
            if volume.type is None:
                volume.type = DEFAULT_VOLUME_TYPE[target]
            if volume.type not in VOLUME_TYPES[target]:
                raise invalid(f"{', '.join(VOLUME_TYPES[target])} (target {target})",
                              f"storage.volumes[{index}].type", volume.type)
        shared = self.storage.shared
        if shared and shared.kind != SHARED_KIND[target]:
            raise invalid(f"{SHARED_KIND[target]} (target {target})", "storage.shared.kind", shared.kind)
        error = next((finding for finding in spec_findings(self) if finding.severity == "error"), None)
        if error is not None:
            raise refused(error.message, error.resource)
        return self

    def _fit_partitions(self) -> None:
        """``compute`` is one static partition named compute; ``partitions`` name theirs, each once."""
        if self.partitions is not None and self.compute is not None:
            raise invalid("either compute (one static partition) or partitions, not both", "compute",
                          self.compute.model_dump())
        if self.partitions == []:
            raise invalid("at least one partition (or no partitions: compute's one)", "partitions", [])
        if "hpc" not in self.parts:
            self.compute = self.partitions = None
            return
        if self.partitions is None:
            compute = self.compute or Compute()
            self.partitions = [Partition(name="compute", instance_type=compute.instance_type, min=compute.count,
                                         max=compute.count, networking=compute.networking)]
            self.compute = None
            self._compute_shorthand = True
        names: dict[str, int] = {}
        for index, partition in enumerate(self.partitions):
            if partition.name in names:
                raise invalid(f"a name no other partition has (partitions[{names[partition.name]}] has it)",
                              f"partitions[{index}].name", partition.name)
            names[partition.name] = index
        total = sum(partition.max for partition in self.partitions)
        if self.target == "local" and total + 1 > LOCAL_MAX_NODES:
            raise invalid(f"at most {LOCAL_MAX_NODES - 1} compute nodes in all on the local target (one /24 "
                          f"network; these ask for {total})", "partitions", total)

    def partition_field(self, index: int) -> str:
        """Where partition ``index`` is in the spec as the user wrote it: ``compute`` for the shorthand."""
        return "compute" if self._compute_shorthand else f"partitions[{index}]"

    @property
    def slurm_partitions(self) -> list[Partition]:
        """The Slurm cluster's partitions; none when the environment builds no Slurm."""
        return self.partitions or []

    @property
    def compute_nodes(self) -> list[str]:
        """Every compute node the cluster can have, partition by partition."""
        return [name for partition in self.slurm_partitions for name in partition.node_names()]

    def sections(self) -> list[str]:
        """The sections that choose what is built which this spec has (a spark or containers section given as
        null is none)."""
        return [name for names in PART_SECTIONS.values() for name in names
                if name in self.model_fields_set and getattr(self, name) is not None]

    @property
    def parts(self) -> frozenset[Part]:
        """What this environment builds: Slurm (``hpc``), ``spark``, ``containers``; ``stack`` names the whole."""
        return parts_of(self.stack, self.target, self.sections())

    @classmethod
    def local_default(cls, nodes: int = 2, name: str = "local") -> Environment:
        """What ``up`` builds when given no spec: a small cluster on this machine."""
        return cls.model_validate(local_default_spec(nodes, name))


def _spare_ssh_home(user: str, storage: Storage) -> None:
    """No mount on or above the SSH user's home: it would hide the authorized_keys every task logs in with."""
    home = "/root" if user == "root" else f"/home/{user}"
    mounts = [(f"storage.volumes[{index}].mount", volume.mount) for index, volume in enumerate(storage.volumes)]
    mounts += [("storage.shared.mount", storage.shared.mount)] if storage.shared else []
    for at, mount in mounts:
        if within(home, mount):
            raise invalid(f"a mount point neither on nor above {home} (ssh.user {user}'s home, with the "
                          "authorized_keys every task logs in with)", at, mount)


# Which volume sources each target can attach or restore, and what a target says it has instead.
VOLUME_SOURCES = {"local": (), "aws": ("volume_id", "snapshot_id"), "azure": ("disk_id", "snapshot_id")}
SNAPSHOT_IDS = {"aws": (EBS_SNAPSHOT_ID, "an EBS snapshot id such as snap-0a1b2c3d"),
                "azure": (azure_id("snapshots"), f"a snapshot's resource id such as {azure_id_example('snapshots')}")}


def _fit_volume_origin(volume: Volume, target: Target, at: str) -> None:
    """A volume source and a final snapshot only where the target has them: EBS ids on aws, resource ids on azure,
    neither on the local target; Azure deletes a managed disk without any snapshot, and Pulumi cannot take one at
    destroy there, so ``snapshot_on_destroy`` is refused on azure rather than ignored."""
    if volume.snapshot_on_destroy and target != "aws":
        raise invalid(f"false (target {target}: only aws snapshots a volume as destroy deletes it; "
                      "keep it with retain: true instead)", f"{at}.snapshot_on_destroy", True)
    if volume.from_ is None:
        return
    allowed = VOLUME_SOURCES[target]
    for field in ("volume_id", "disk_id", "snapshot_id"):
        value = getattr(volume.from_, field)
        if value is not None and field not in allowed:
            raise invalid(f"{', '.join(allowed) or 'no from'} (target {target})", f"{at}.from.{field}", value)
    snapshot = volume.from_.snapshot_id
    if snapshot is not None and not re.fullmatch(SNAPSHOT_IDS[target][0], snapshot):
        raise invalid(f"{SNAPSHOT_IDS[target][1]} (target {target})", f"{at}.from.snapshot_id", snapshot)


def local_default_spec(nodes: int = 2, name: str = "local") -> dict[str, Any]:
    """The raw spec behind :meth:`Environment.local_default`, for callers that override parts of it."""
    return {
        "name": name,
        "target": "local",
        "compute": {"count": nodes},
        "storage": {
            "volumes": [{"name": "scratch", "size_gb": 1, "mount": "/scratch"}],
            "shared": {"kind": "local", "mount": "/shared"},
        },
    }
