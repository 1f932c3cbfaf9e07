"""Boot configs the boot tests share: a node of each target as its component or the local target builds it."""

from __future__ import annotations

import base64
from typing import Any

from components.boot.config import (
    BootConfig,
    BundleInPlace,
    HostKey,
    InlineMungeKey,
    MungeKeyFile,
    Role,
    S3Bundle,
    SshLogin,
)

MUNGE = base64.b64encode(b"k" * 1024).decode()
HOST_KEY = HostKey(private="-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
                           "-----END OPENSSH PRIVATE KEY-----",
                   public="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6")
USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKey user@laptop"


def aws(role: Role = "compute", **changes: Any) -> BootConfig:
    """As the AWS component builds it: everything inline, the bundle from S3, every cloud step on."""
    values: dict[str, Any] = {
        "role": role, "cluster_name": "hpc", "head_name": "hpc-head", "munge_key": InlineMungeKey(MUNGE),
        "bundle": S3Bundle("hpc-bundle-1234", "bundles/ansible-0123.zip", "us-east-1"),
        "head_address": "10.0.1.10" if role == "compute" else None, "login": SshLogin("ec2-user", USER_KEY),
        "host_key": HOST_KEY, "tunables": {"storage_persist": True}}
    return BootConfig(**{**values, **changes})


def azure(role: Role = "compute") -> BootConfig:
    """As the Azure component builds it: the bundle is already in place, the head's address fixed."""
    return aws(role, bundle=BundleInPlace(), head_address="10.30.0.4", login=SshLogin("azureuser", USER_KEY))


def local(role: Role = "compute", bundle: str = "/src/ansible", **changes: Any) -> BootConfig:
    """As the local target builds it: SSH, the munge key and the bundle set up by the target, no cloud steps."""
    values: dict[str, Any] = {
        "munge_key": MungeKeyFile("/var/lib/cloud-hpc-toolkit/env/secrets/munge.key"), "bundle": BundleInPlace(bundle),
        "head_address": "10.213.0.10", "login": None, "host_key": None, "cloud_instance": False,
        "service_manager": "direct", "install_packages": False, "tunables": {}}
    return aws(role, **{**values, **changes})
