"""Everything one node's first boot needs, as one typed value. The AWS and Azure components and the local target
each build one per node role; the boot script and its ansible variables are rendered from it (script.py), the
cloud-config around it too (cloud_config.py). Checked when built, so an incoherent boot is refused at deploy time
rather than found on a node.

No secret is a field: on clouds the munge key and the host private key wait in the cloud's secret store, which the
config only names (``AwsSecret``, ``KeyVaultSecret``), so nothing rendered from it (user data, custom data) is secret.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

BUNDLE_DIR = "/opt/cloud-hpc-toolkit/ansible"  # where a cloud node's copy of ansible/ lives
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")  # names that go into the script unquoted are these
TAG = re.compile(r"[A-Za-z0-9+=.,_:@-]{1,128}")  # a tag key the instance metadata service serves
Role = Literal["head", "compute"]
# The variables the boot script sets (ansible/site.yml documents them); tunables only add to these.
OWN_VARS = ("cluster_name", "node_name", "node_role", "head_name", "head_address", "compute_nodes",
            "munge_key_src", "service_manager", "install_packages")


@dataclass(frozen=True)
class AwsSecret:
    """This node role's Secrets Manager secret (the munge key and its host private key, as
    ``node_secrets.secret_document`` writes them), read at boot with the instance role's credentials."""

    arn: str
    region: str
    endpoint: str  # https://secretsmanager.<region>.<the partition's DNS suffix>


@dataclass(frozen=True)
class KeyVaultSecret:
    """This node role's Key Vault secret (same content), read at boot with the nodes' user-assigned identity."""

    vault_url: str  # https://<vault>.vault.azure.net
    name: str
    client_id: str  # the identity's client id, which the metadata service's token request names


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
    dns_suffix: str = "amazonaws.com"  # the AWS partition's (amazonaws.com.cn in China)

    @property
    def url(self) -> str:
        """Virtual-hosted style, which every bucket answers (path style is deprecated for new ones)."""
        return f"https://{self.bucket}.s3.{self.region}.{self.dns_suffix}/{urllib.parse.quote(self.key, safe='/-_.~')}"


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
class StaticNode:
    """A compute node slurm.conf declares. Without an address, the resume program sets it when it starts the node
    (a cloud node), and ``name`` may be a Slurm hostlist (``cpu-[0-99]``), so the boot does not grow with it."""

    name: str
    address: str | None = None


@dataclass(frozen=True)
class BootConfig:
    """One node role's boot.

    ``head_address`` None: the head finds its own address at boot (a compute node must be told it).
    ``compute_nodes``: every compute node slurm.conf declares (a hostlist without an address on the clouds).
    ``munge_key``: a file already on the node (local target), or the node role's secret in the cloud's store,
    which also holds the host private key: the boot script fetches both before munge and sshd need them.
    ``login`` / ``host_public_key`` None: the target has set up SSH itself (the local target writes sshd's files).
    ``host_public_key``: the pinned ed25519 key's public half (an OpenSSH line); its private half is in the secret.
    ``cloud_instance``: only root may reach the instance metadata service (its credentials read the secret), and
    the head takes ``head_name`` as its hostname (slurmctld checks it); off on the local target.
    ``name_tag``: the instance tag holding this node's Slurm name, read from the instance metadata service (an
    AWS compute node the head launched); None: the hostname the cloud or target gave it.
    ``imds_users``: users besides root who may reach the instance metadata service (the head's slurm user, whose
    power programs start and stop nodes with the instance role); created if missing, so the rule can name them.
    ``tunables``: the roles' other variables (mount_points, slurm_*, spark_*, mpi_interface, storage_*, ...).
    """

    role: Role
    cluster_name: str
    head_name: str
    munge_key: MungeKeyFile | AwsSecret | KeyVaultSecret
    bundle: S3Bundle | BundleInPlace
    head_address: str | None = None
    compute_nodes: tuple[StaticNode, ...] = ()
    login: SshLogin | None = None
    host_public_key: str | None = None
    cloud_instance: bool = True
    service_manager: Literal["systemd", "direct"] = "systemd"
    install_packages: bool = True
    name_tag: str | None = None
    imds_users: tuple[str, ...] = ()
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
    names.update({f"imds_users[{index}]": user for index, user in enumerate(config.imds_users)})
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
    stored = not isinstance(config.munge_key, MungeKeyFile)
    if stored and not all(vars(config.munge_key).values()):
        return f"the munge key's secret is not fully named: {config.munge_key}"
    if stored != (config.host_public_key is not None):
        return "a host key is pinned exactly when the munge key is a stored secret (which holds its private half)"
    bundle = config.bundle
    if isinstance(bundle, S3Bundle) and not (bundle.bucket and bundle.key and bundle.region):
        return "an S3 bundle needs bucket, key and region"
    if config.login is not None and not config.login.authorized_key.strip():
        return "login needs the user's public key"
    if config.host_public_key is not None and not config.host_public_key.startswith("ssh-ed25519 "):
        return "host_public_key must be an OpenSSH ssh-ed25519 public key line"
    if (config.name_tag is not None or config.imds_users) and not config.cloud_instance:
        return "name_tag and imds_users need a cloud instance (the instance metadata service)"
    if config.name_tag is not None and (config.role != "compute" or not TAG.fullmatch(config.name_tag)):
        return f"name_tag = {config.name_tag!r}: a compute node's tag key (letters, digits, + - = . , _ : @)"
    clashes = sorted(set(config.tunables) & set(OWN_VARS))
    if clashes:
        return f"tunables may not set {', '.join(clashes)} (the boot script sets them)"
    return None
