"""Everything one node's first boot needs, as one typed value. The AWS and Azure components and the local target
each build one per node role; the boot script and its ansible variables are rendered from it (script.py), the
cloud-config around it too (cloud_config.py). Checked when built, so an incoherent boot is refused at deploy time
rather than found on a node.

Secrets (the munge key, a host private key) are fields like any other: whoever stores what is rendered from a
value holding them keeps it secret (Pulumi: a secret output).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

BUNDLE_DIR = "/opt/cloud-hpc-toolkit/ansible"  # where a cloud node's copy of ansible/ lives
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")  # names that go into the script unquoted are these
Role = Literal["head", "compute"]
# The variables the boot script sets (ansible/site.yml documents them); tunables only add to these.
OWN_VARS = ("cluster_name", "node_name", "node_role", "head_name", "head_address", "compute_nodes",
            "munge_key_src", "service_manager", "install_packages")


@dataclass(frozen=True)
class InlineMungeKey:
    """The munge key travels in the boot script itself, base64 (cloud user data); staged on tmpfs while it runs."""

    base64: str


@dataclass(frozen=True)
class MungeKeyFile:
    """The munge key is already a root-only file on the node (the local target's nodes share one)."""

    path: str


@dataclass(frozen=True)
class S3Bundle:
    """The ansible/ folder as one zip object the node's role may read (AWS); unpacked into ``into``."""

    bucket: str
    key: str
    region: str
    into: str = BUNDLE_DIR


@dataclass(frozen=True)
class BundleInPlace:
    """The ansible/ folder is already on the node: written from the custom data (Azure), or the project's own
    folder, which every local-target node sees."""

    path: str = BUNDLE_DIR


@dataclass(frozen=True)
class SshLogin:
    """The user the boot script creates (if missing) with the user's public key and passwordless sudo."""

    user: str
    authorized_key: str


@dataclass(frozen=True)
class HostKey:
    """The node's pinned ed25519 host key (OpenSSH private and public halves), installed before sshd starts."""

    private: str
    public: str


@dataclass(frozen=True)
class StaticNode:
    name: str
    address: str


@dataclass(frozen=True)
class BootConfig:
    """One node role's boot.

    ``head_address`` None: the head finds its own address at boot (a compute node must be told it).
    ``compute_nodes`` empty: compute nodes register with Slurm by themselves (dynamic nodes).
    ``login`` / ``host_key`` None: the target has set up SSH itself (the local target writes sshd's files).
    ``cloud_instance``: only root may reach the instance metadata service (the user data holds the munge key),
    and the head takes ``head_name`` as its hostname (slurmctld checks it); off on the local target.
    ``tunables``: the roles' other variables (mount_points, slurm_*, spark_*, mpi_interface, storage_*, ...).
    """

    role: Role
    cluster_name: str
    head_name: str
    munge_key: InlineMungeKey | MungeKeyFile
    bundle: S3Bundle | BundleInPlace
    head_address: str | None = None
    compute_nodes: tuple[StaticNode, ...] = ()
    login: SshLogin | None = None
    host_key: HostKey | None = None
    cloud_instance: bool = True
    service_manager: Literal["systemd", "direct"] = "systemd"
    install_packages: bool = True
    tunables: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(f"boot of a {self.role} node of {self.cluster_name!r}: {problem}")


def _problem(config: BootConfig) -> str | None:
    """What makes ``config`` impossible to boot, in words, or None."""
    if config.role not in ("head", "compute"):
        return f"role {config.role!r}: allowed: head, compute"
    names = {"cluster_name": config.cluster_name, "head_name": config.head_name}
    if config.login is not None:
        names["login.user"] = config.login.user
    for name, value in names.items():
        if not NAME.fullmatch(value):
            return f"{name} = {value!r}: allowed: letters, digits, '-', '_' (a host name)"
    if config.head_address is None and config.role == "compute":
        return "head_address is required (the head's private IP)"
    if config.head_address is not None:
        try:
            ipaddress.IPv4Address(config.head_address)
        except ValueError:
            return f"head_address = {config.head_address!r} is not an IPv4 address"
    if isinstance(config.munge_key, InlineMungeKey) and not config.munge_key.base64.strip():
        return "the munge key is empty"
    bundle = config.bundle
    if isinstance(bundle, S3Bundle) and not (bundle.bucket and bundle.key and bundle.region):
        return "an S3 bundle needs bucket, key and region"
    if config.login is not None and not config.login.authorized_key.strip():
        return "login needs the user's public key"
    if config.host_key is not None and not (config.host_key.private.strip() and config.host_key.public.strip()):
        return "host_key needs its private and public halves"
    clashes = sorted(set(config.tunables) & set(OWN_VARS))
    if clashes:
        return f"tunables may not set {', '.join(clashes)} (the boot script sets them)"
    return None
