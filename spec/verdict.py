"""The spec-level rules: what can be judged from the spec alone, before anything is declared.

:class:`spec.environment.Environment` refuses a spec with an error here as it loads, so ``python -m spec.check``,
``invoke plan``, ``invoke up`` and the Pulumi program give the same one line; the warnings are what ``invoke plan``
shows of a valid spec. The components refuse with the same rules (:mod:`spec.machine_types`,
:mod:`spec.ssh_networks`), for a caller that builds them without a spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spec.findings import Finding
from spec.machine_types import check_instance_networking, check_vm_networking
from spec.secret_names import plaintext_secret_names
from spec.ssh_networks import check_ssh_cidr

if TYPE_CHECKING:
    from spec.environment import Environment, Volume


def spec_findings(env: Environment) -> list[Finding]:
    """Every finding about ``env``'s own fields, errors and warnings, in field order.

    The local target declares nothing in a cloud, so it has nothing to judge. Machine types are checked against
    the target's table: EC2 instance types (EFA, ENA) on AWS, VM sizes (InfiniBand, accelerated networking) on
    Azure."""
    if env.target == "local":
        return []
    findings = check_ssh_cidr(env.ssh.allowed_cidr, env.ssh.allow_world, min_prefix=env.ssh.min_prefixes) \
        if env.ssh.allowed_cidr else []
    # instance types are unset when no cluster is asked for (a containers stack)
    machines = [(env.head.instance_type, "none", "head.instance_type")]
    machines += [(instance_type, partition.networking, f"{env.partition_field(index)}.{partition.type_field(order)}")
                 for index, partition in enumerate(env.slurm_partitions)
                 for order, instance_type in enumerate(partition.instance_types)]
    if env.spark:
        machines.append((env.spark.core.instance_type, "none", "spark.core.instance_type"))
    check = check_vm_networking if env.target == "azure" else check_instance_networking
    findings += [finding for instance_type, networking, field in machines if instance_type
                 for finding in check(instance_type, networking, field)]
    if env.target == "azure":
        findings += check_disk_encryption(env.storage.volumes)
    else:
        findings += [Finding("storage-unencrypted", "error", f"storage.volumes[{index}]",
                             f"volume {volume.name} is not encrypted at rest; remove encrypted: false")
                     for index, volume in enumerate(env.storage.volumes) if not volume.encrypted]
    if env.containers:
        findings += [Finding("plaintext-secret", "error", f"containers.environment.{name}",
                             f"{name} looks like a secret given in plain text, which ends up readable in the task "
                             "definition; pass it as a secret instead")
                     for name in plaintext_secret_names(env.containers.environment)]
    return findings


def check_disk_encryption(volumes: Sequence[Volume]) -> list[Finding]:
    """Azure encrypts every managed disk at rest (platform-managed keys) and cannot be told not to, so a
    volume asking for no encryption is refused rather than silently encrypted anyway."""
    return [Finding("storage-unencrypted", "error", f"storage.volumes[{index}]",
                    f"volume {volume.name} asks for encrypted: false, which Azure managed disks cannot honour "
                    "(they are always encrypted at rest); remove encrypted: false")
            for index, volume in enumerate(volumes) if not volume.encrypted]
