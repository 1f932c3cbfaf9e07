"""What an Azure VM size can do on the network, and the refusals that follow from it (the Azure side of
``components/security.py``'s instance checks, returning the same ``Finding``s).

The facts live in ``vm_sizes.json`` (dated, with the documentation pages and commits they were read from):
accelerated networking (SR-IOV Ethernet, the spec's ``enhanced``) and RDMA over InfiniBand (``rdma``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from components.security import Finding, unknown_machine
from spec import environment as spec

SIZES = Path(__file__).with_name("vm_sizes.json")


@cache
def vm_sizes() -> dict[str, dict[str, Any]]:
    """Per size: ``series``, ``accelerated_networking`` (required | supported | unsupported), ``rdma``."""
    return json.loads(SIZES.read_text())["sizes"]


def accelerated_networking(size: str) -> bool:
    """Whether a NIC of this size can (and so should) use accelerated networking; unknown sizes get none,
    because Azure refuses to create a NIC that asks for it on a size without it."""
    capabilities = vm_sizes().get(size)
    return capabilities is not None and capabilities["accelerated_networking"] != "unsupported"


def _series(names: list[str]) -> str:
    known = vm_sizes()
    return ", ".join(sorted({known[name]["series"] for name in names}))


def check_vm_networking(size: str, networking: str, resource: str = "compute.instance_type") -> list[Finding]:
    """InfiniBand (``rdma``) only on RDMA sizes, accelerated networking (``enhanced``) only where supported.

    A size missing from the table is an error when networking is asked of it and a warning for ``none``
    (the table is a dated snapshot: a newer size must not block a node that asks nothing of the network)."""
    known = vm_sizes()
    capabilities = known.get(size)
    if capabilities is None:
        return [unknown_machine("unknown-vm-size", f"Azure VM size {size}", size, known,
                                f"known series: {_series(list(known))}", networking, resource)]
    if networking == "rdma" and not capabilities["rdma"]:
        with_rdma = sorted(name for name, caps in known.items() if caps["rdma"])
        return [Finding("azure-rdma-unsupported", "error", resource,
                        f"{size} has no InfiniBand, so networking: rdma cannot work; choose an RDMA size "
                        f"(series {_series(with_rdma)}, e.g. Standard_HB120rs_v3) or set networking: enhanced")]
    if networking == "enhanced" and capabilities["accelerated_networking"] == "unsupported":
        return [Finding("azure-accelerated-networking-unsupported", "error", resource,
                        f"{size} has no accelerated networking, so networking: enhanced cannot work; choose a "
                        "current size (Dsv5, Fsv2, HBv3, ...) or set networking: none")]
    return []


def check_disk_encryption(volumes: list[spec.Volume]) -> list[Finding]:
    """Azure encrypts every managed disk at rest (platform-managed keys) and cannot be told not to, so a
    volume asking for no encryption is refused rather than silently encrypted anyway."""
    return [Finding("storage-unencrypted", "error", f"storage.volumes[{index}]",
                    f"volume {volume.name} asks for encrypted: false, which Azure managed disks cannot honour "
                    "(they are always encrypted at rest); remove encrypted: false")
            for index, volume in enumerate(volumes) if not volume.encrypted]
