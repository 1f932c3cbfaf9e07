"""What each machine type can do on the network (EC2 instance types: EFA, ENA; Azure VM sizes: InfiniBand,
accelerated networking) and which GPUs it has, from dated tables beside this file, and the rule a spec's types are
judged by.

It lives in ``spec/`` because a spec asking ``networking: rdma`` of a type without EFA is a bad spec, refused as it
loads; the components refuse with the same rule. Standard library only, for the policy pack (see
:mod:`spec.findings`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from spec.findings import Finding

CAPABILITIES = Path(__file__).parent / "instance_capabilities.json"
VM_SIZES = Path(__file__).parent / "vm_sizes.json"


@cache
def instance_capabilities() -> dict[str, dict[str, Any]]:
    """EFA/ENA support per EC2 instance type; the file's ``_source`` says where and when it was taken."""
    return json.loads(CAPABILITIES.read_text())["types"]


def _families(types: Iterable[str], most: int = 12) -> str:
    """The families of ``types``, at most ``most`` of them named, so that the line stays readable."""
    families = sorted({name.split(".")[0] for name in types})
    more = f" and {len(families) - most} more" if len(families) > most else ""
    return ", ".join(families[:most]) + more


def _unsupported(rule: str, resource: str, machine: str, lacks: str, asked: str, choose: str,
                 instead: str) -> list[Finding]:
    """The one wording of a networking value the machine type cannot give, on either cloud."""
    return [Finding(rule, "error", resource, f"{machine} has no {lacks}, so networking: {asked} cannot work; "
                                             f"choose {choose} or set networking: {instead}")]


def unknown_machine(rule: str, what: str, name: str, known: Iterable[str], listing: str, networking: str,
                    resource: str) -> Finding:
    """A machine type missing from a capability table (AWS or Azure): an error when networking is asked of
    it (support cannot be shown), a warning for ``none`` (the table is a dated snapshot and a newer type must
    not block a node that asks nothing of the network). Suggests the closest known names."""
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return Finding(rule, "warning" if networking == "none" else "error", resource, f"unknown {what}; {hint}{listing}")


def check_instance_networking(instance_type: str, networking: str,
                              resource: str = "compute.instance_type") -> list[Finding]:
    """EFA (``rdma``) only on types with EFA, ENA (``enhanced``) only on types with ENA (spec values).

    A type missing from the table is an error when networking is asked of it (support cannot be shown, and
    the launch would fail or fall back to plain TCP), but only a warning for ``none``: the table is a dated
    snapshot, and a type newer than it must not block a node that asks nothing of the network."""
    known = instance_capabilities()
    capabilities = known.get(instance_type)
    if capabilities is None:
        return [unknown_machine("unknown-instance-type", f"instance type {instance_type}", instance_type, known,
                                f"known families: {_families(known)}", networking, resource)]
    if networking == "rdma" and not capabilities["efa"]:
        family = instance_type.split(".")[0]
        with_efa = sorted(name for name, caps in known.items() if caps["efa"])
        same_family = [name for name in with_efa if name.split(".")[0] == family]
        choice = (f"sizes of {family} with EFA: {', '.join(same_family)}" if same_family
                  else f"families with EFA: {_families(with_efa)}")
        return _unsupported("efa-unsupported", resource, instance_type, "EFA", "rdma",
                            f"a type with EFA ({choice})", "enhanced")
    if networking == "enhanced" and capabilities["ena"] == "unsupported":
        return _unsupported("ena-unsupported", resource, instance_type, "ENA", "enhanced",
                            "a current generation type (c5n, m5, t3, ...)", "none")
    return []


@cache
def vm_sizes() -> dict[str, dict[str, Any]]:
    """Per Azure size: ``series``, ``accelerated_networking`` (required | supported | unsupported), ``rdma``
    (InfiniBand); the file's ``_source`` names the documentation pages and commits it was read from."""
    return json.loads(VM_SIZES.read_text())["sizes"]


def accelerated_networking(size: str) -> bool:
    """Whether a NIC of this size can (and so should) use accelerated networking; unknown sizes get none,
    because Azure refuses to create a NIC that asks for it on a size without it."""
    capabilities = vm_sizes().get(size)
    return capabilities is not None and capabilities["accelerated_networking"] != "unsupported"


def _series(names: Iterable[str]) -> str:
    known = vm_sizes()
    return ", ".join(sorted({known[name]["series"] for name in names}))


def check_vm_networking(size: str, networking: str, resource: str = "compute.instance_type") -> list[Finding]:
    """The Azure side of :func:`check_instance_networking`: InfiniBand (``rdma``) only on RDMA sizes,
    accelerated networking (``enhanced``) only where supported; unknown sizes as :func:`unknown_machine` says."""
    known = vm_sizes()
    capabilities = known.get(size)
    if capabilities is None:
        return [unknown_machine("unknown-vm-size", f"Azure VM size {size}", size, known,
                                f"known series: {_series(known)}", networking, resource)]
    if networking == "rdma" and not capabilities["rdma"]:
        with_rdma = [name for name, caps in known.items() if caps["rdma"]]
        return _unsupported("azure-rdma-unsupported", resource, size, "InfiniBand", "rdma",
                            f"an RDMA size (series {_series(with_rdma)}, e.g. Standard_HB120rs_v3)", "enhanced")
    if networking == "enhanced" and capabilities["accelerated_networking"] == "unsupported":
        return _unsupported("azure-accelerated-networking-unsupported", resource, size, "accelerated networking",
                            "enhanced", "a current size (Dsv5, Fsv2, HBv3, ...)", "none")
    return []


@dataclass(frozen=True)
class Gpus:
    """The GPUs of one machine type: ``count`` whole ones (0 where it has a ``fraction`` of one, such as 1/8)."""

    count: int
    maker: str
    model: str
    fraction: str | None = None

    @property
    def slurm_type(self) -> str:
        """The model as a Slurm GRES type (``gpu:<type>:N``): lowercase letters and digits (``RTX PRO 4500`` is
        ``rtxpro4500``)."""
        return re.sub(r"[^a-z0-9]", "", self.model.lower())

    def describe(self) -> str:
        """``4 NVIDIA T4`` or ``1/8 of an NVIDIA L4``, for one-line errors."""
        return f"{self.fraction} of one {self.maker} {self.model}" if self.fraction else \
            f"{self.count} {self.maker} {self.model}"


def gpu_info(cloud: str, machine: str) -> Gpus | None:
    """The GPUs of an EC2 instance type (``cloud`` aws) or an Azure VM size (azure); None for a type without any,
    or missing from the table."""
    row = (vm_sizes() if cloud == "azure" else instance_capabilities()).get(machine, {})
    if "gpus" not in row:
        return None
    return Gpus(row["gpus"], row["gpu_maker"], row["gpu_model"], row.get("gpu_fraction"))


def known_machine(cloud: str, machine: str) -> bool:
    """Whether ``machine`` is in ``cloud``'s table at all."""
    return machine in (vm_sizes() if cloud == "azure" else instance_capabilities())


def gpu_families(cloud: str, most: int = 8) -> str:
    """Some machine families with whole NVIDIA GPUs, for a line that says what to choose instead."""
    if cloud == "azure":
        return ", ".join(sorted({caps["series"] for caps in vm_sizes().values() if caps.get("gpus")
                                 and caps["gpu_maker"] == "NVIDIA"})[:most])
    return _families([name for name, caps in instance_capabilities().items() if caps.get("gpus")
                      and caps["gpu_maker"] == "NVIDIA"], most)
