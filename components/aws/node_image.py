"""Which AMI each node of an AWS Slurm cluster boots.

Debian 12 (Debian's own account) by default: the roles install Slurm 22.05, munge and Open MPI from its packages,
exactly as on the local target. A GPU node needs the NVIDIA driver, which Debian's image lacks and no Debian image
of AWS carries; AWS's Deep Learning Base OSS Nvidia Driver GPU AMI does, on Ubuntu 24.04, the nearest family (apt,
the same package names, the release Azure's nodes run). Slurm's daemons must agree on their release (22.05 on
Debian, 23.11 on Ubuntu 24.04) and one Open MPI serves every node, so a cluster with a GPU partition boots every node
on Ubuntu 24.04: the GPU nodes from the Deep Learning image, the others (head included) from Canonical's. Both are
named by their public SSM parameters, which always hold the current image, and looked up again by id under their
owner, which also gives the root device name the launch template maps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from spec import environment as spec

DEBIAN_OWNER = "136693071363"  # the Debian project's AWS account (wiki.debian.org/Cloud/AmazonEC2Image)
CANONICAL_OWNER = "099720109477"  # Canonical's account, owner of the images its SSM parameters name
AMAZON_OWNER = "amazon"  # the Deep Learning AMIs are Amazon's own
# Graviton families (arm64): a1, c6g, c7gn, m6gd, t4g, hpc7g, im4gn, g5g, ... ; g5 or g4dn are x86_64 GPUs.
ARM_FAMILY = re.compile(r"a1|[a-z]+\d+[a-z]*g[a-z]*")


@dataclass(frozen=True)
class NodeImage:
    """An AMI to look up: by the public SSM parameter that names it (Ubuntu), or the newest of a name (Debian)."""

    owner: str
    ssm_parameter: str | None = None
    name_pattern: str | None = None


def architecture(instance_type: str) -> str:
    """The AMI architecture an instance type runs (the family is the part before the dot)."""
    return "arm64" if ARM_FAMILY.fullmatch(instance_type.split(".")[0]) else "x86_64"


def on_ubuntu(partitions: Iterable[spec.Partition]) -> bool:
    """Whether the cluster boots Ubuntu 24.04 rather than Debian 12: when a partition has GPUs."""
    return any(partition.gpus for partition in partitions)


def node_image(instance_type: str, gpus: int, ubuntu: bool) -> NodeImage:
    """The image of a node of ``instance_type`` with ``gpus`` GPUs, in a cluster ``ubuntu`` or not."""
    arch = architecture(instance_type)
    if gpus:
        return NodeImage(AMAZON_OWNER, ssm_parameter=f"/aws/service/deeplearning/ami/{arch}/"
                                                     "base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id")
    debian_arch = "amd64" if arch == "x86_64" else "arm64"
    if ubuntu:
        return NodeImage(CANONICAL_OWNER, ssm_parameter=f"/aws/service/canonical/ubuntu/server/24.04/stable/current/"
                                                        f"{debian_arch}/hvm/ebs-gp3/ami-id")
    return NodeImage(DEBIAN_OWNER, name_pattern=f"debian-12-{debian_arch}-*")
