"""What the AWS and Azure compositions of a Slurm cluster share: the part of the outputs contract both export the
same way (the head to connect to, the compute fleet tasks find by tag, with their pinned host keys) and what the
nodes' storage role prepares at boot."""

from __future__ import annotations

from typing import Any, Literal, Protocol

import pulumi

from spec.environment import Environment


class SlurmClusterOutputs(Protocol):
    """What the AWS and Azure SlurmCluster components both expose."""

    head_public_ip: pulumi.Output[str]
    head_host_key: pulumi.Output[str]
    compute_host_key: pulumi.Output[str]
    compute_tag: tuple[str, str]


def cluster_outputs(provider: Literal["aws", "azure"], env: Environment,
                    cluster: SlurmClusterOutputs) -> dict[str, Any]:
    tag_key, tag_value = cluster.compute_tag
    return {
        "head": {"name": "head", "address": cluster.head_public_ip, "host_key": cluster.head_host_key},
        "computes": [],
        "fleet": {"provider": provider, "region": env.region, "tag_key": tag_key, "tag_value": tag_value,
                  "host_key": cluster.compute_host_key, "expected": env.compute.count},
    }


def boot_vars(env: Environment) -> dict[str, object]:
    """The storage role's tunables: the mount points, and amazon-efs-utils where EFS is mounted over TLS (Azure
    Files NFS needs no client of its own)."""
    mounts = [v.mount for v in env.storage.volumes] + ([env.storage.shared.mount] if env.storage.shared else [])
    return {"mount_points": mounts, "efs_utils": bool(env.storage.shared and env.storage.shared.kind == "efs")}
