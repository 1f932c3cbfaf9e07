"""Boot configs the boot tests share: a node of each target as its component or the local target builds it."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from components.boot.config import (
    AwsSecret,
    BootConfig,
    BundleInPlace,
    KeyVaultSecret,
    MungeKeyFile,
    Role,
    S3Bundle,
    SshLogin,
)

HOST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6"
AWS_SECRET = AwsSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:hpc-compute-boot-a1b2c3",
                       "us-east-1", "https://secretsmanager.us-east-1.amazonaws.com")
VAULT_SECRET = KeyVaultSecret("https://chpc-hpc-1a2b3c.vault.azure.net", "compute-boot",
                              "00000000-0000-0000-0000-0000000000c1")
USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKey user@laptop"


def aws(role: Role = "compute", **changes: Any) -> BootConfig:
    """As the AWS component builds it: the keys in Secrets Manager, the bundle from S3, every cloud step on."""
    values: dict[str, Any] = {
        "role": role, "cluster_name": "hpc", "head_name": "hpc-head", "munge_key": AWS_SECRET,
        "bundle": S3Bundle("hpc-bundle-1234", "bundles/ansible-0123.zip", "us-east-1"),
        "head_address": "10.0.1.10" if role == "compute" else None, "login": SshLogin("ec2-user", USER_KEY),
        "host_public_key": HOST_PUBLIC_KEY, "tunables": {"storage_persist": True}}
    return BootConfig(**{**values, **changes})


def azure(role: Role = "compute", **changes: Any) -> BootConfig:
    """As the Azure component builds it: the keys in Key Vault, the bundle already in place, the head's address
    fixed."""
    values: dict[str, Any] = {"munge_key": VAULT_SECRET, "bundle": BundleInPlace(), "head_address": "10.30.0.4",
                              "login": SshLogin("azureuser", USER_KEY)}
    return aws(role, **{**values, **changes})


def fresh_host_key() -> tuple[str, str]:
    """A new ed25519 host key, as the stack generates one: its OpenSSH private form and its public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def local(role: Role = "compute", bundle: str = "/src/ansible", **changes: Any) -> BootConfig:
    """As the local target builds it: SSH, the munge key and the bundle set up by the target, no cloud steps."""
    values: dict[str, Any] = {
        "munge_key": MungeKeyFile("/var/lib/cloud-hpc-toolkit/env/secrets/munge.key"), "bundle": BundleInPlace(bundle),
        "head_address": "10.213.0.10", "login": None, "host_public_key": None, "cloud_instance": False,
        "service_manager": "direct", "install_packages": False, "tunables": {}}
    return aws(role, **{**values, **changes})
