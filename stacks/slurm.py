"""What the AWS and Azure compositions of a Slurm cluster share: the part of the outputs contract both export the
same way (the head to connect to, the compute fleet tasks find by tag, with their pinned host keys)
and what the nodes' roles are told at boot (what each mounts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

import pulumi

from components.boot.config import Role
from components.boot.storage import storage_vars
from spec.environment import Environment, Networking
from spec.machine_types import accelerated_networking, instance_capabilities


class SlurmClusterOutputs(Protocol):
    """What the AWS and Azure SlurmCluster components both expose."""

    head_public_ip: pulumi.Output[str]
    head_host_key: pulumi.Output[str]
    compute_host_key: pulumi.Output[str]
    compute_tag: tuple[str, str]


def cluster_outputs(provider: Literal["aws", "azure"], env: Environment, cluster: SlurmClusterOutputs,
                    scope: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """The head and the fleet, which tasks look for by tag in the stack's own ``scope`` only (its VPC on AWS, its
    resource group on Azure). The head starts every node by name: the partitions name them, and the fleet is complete
    once the always-on ones run."""
    tag_key, tag_value = cluster.compute_tag
    partitions = env.slurm_partitions
    expected = sum(p.min for p in partitions)
    return {
        "head": {"name": "head", "address": cluster.head_public_ip, "host_key": cluster.head_host_key},
        "computes": [],
        "fleet": {"provider": provider, "region": env.region, "tag_key": tag_key, "tag_value": tag_value,
                  "host_key": cluster.compute_host_key, "expected": expected, **scope},
        "compute_machine": {"instance_type": partitions[0].instance_type,
                            "networking": compute_networking(provider, env)},
        "partitions": [{"name": p.name, "instance_type": p.instance_type, "min": p.min, "max": p.max,
                        "gpus": p.gpus, "nodes": p.node_names()} for p in partitions],
    }


def partition_vars(env: Environment) -> dict[str, dict[str, Any]]:
    """Each partition's own tunables: the networking its machine type has, which the mpi role picks Open MPI's
    network from (a cpu partition's ENA or accelerated networking beside an efa or InfiniBand partition's fabric)."""
    provider: Literal["aws", "azure"] = "azure" if env.target == "azure" else "aws"
    return {p.name: {"mpi_networking": machine_networking(provider, p.instance_type, p.networking)}
            for p in env.slurm_partitions}


def compute_networking(provider: Literal["aws", "azure"], env: Environment) -> Networking:
    """The networking the compute nodes have, which is more than the spec asks where the machine gives it anyway:
    ENA on every type that has it (AWS), accelerated networking on every size that has it (the Azure component
    turns it on)."""
    partition = env.slurm_partitions[0]
    return machine_networking(provider, partition.instance_type, partition.networking)


def machine_networking(provider: Literal["aws", "azure"], instance_type: str | None,
                       asked: Networking = "none") -> Networking:
    """The networking a machine of ``instance_type`` has when ``asked`` is what its node asks for."""
    if asked == "rdma":
        return "rdma"
    if provider == "aws":
        ena = instance_capabilities().get(instance_type or "", {}).get("ena", "unsupported")
        return "none" if ena == "unsupported" else "enhanced"
    return "enhanced" if accelerated_networking(instance_type or "") else "none"


def head_volumes(env: Environment, volume_ids: Mapping[str, pulumi.Input[str]],
                 devices: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The head's volumes as the contract exports them: found at boot by device (an Azure LUN) or by volume id
    (EBS), and what destroy does with each (the id tells it which volume it keeps)."""
    return [{"name": v.name, "node": "head", "mount": v.mount, "volume_id": volume_ids[v.name], "fs_type": v.fs_type,
             "retain": v.retain, "existing": bool(v.from_ and v.from_.existing),
             "snapshot_on_destroy": v.snapshot_on_destroy, **({"device": devices[v.name]} if devices else {})}
            for v in env.storage.volumes]


def boot_vars(env: Environment, volumes: list[dict[str, Any]], shared: dict[str, Any] | None,
              owner: str) -> dict[Role, dict[str, Any]]:
    """The roles' tunables of the head and of the compute nodes: each mounts at boot what the contract exports
    (the head its ``volumes``, every node the ``shared`` file system; the values may still be outputs), with
    fstab lines (the storage role sets up the TLS tunnel an EFS share needs from the share itself); and the cloud
    and networking the mpi role picks Open MPI's network from: the compute nodes' as the contract says, the head's
    own (it runs no ranks and has no fabric: TCP)."""
    provider: Literal["aws", "azure"] = "azure" if env.target == "azure" else "aws"
    head_mpi = {"mpi_cloud": provider, "mpi_networking": machine_networking(provider, env.head.instance_type)}
    compute_mpi = {"mpi_cloud": provider, "mpi_networking": compute_networking(provider, env)}
    return {"head": {**head_mpi, **storage_vars(volumes, shared, owner=owner, persist=True)},
            "compute": {**compute_mpi, **storage_vars([], shared, owner=owner, persist=True)}}

