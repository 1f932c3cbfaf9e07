"""The security rules, in one place: components refuse with them, `invoke plan` reports with them,
and the policy pack in `policy/` exposes them to `pulumi preview --policy-pack`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Literal["error", "warning"]
    resource: str
    message: str

    def line(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.message}"


class SecurityViolation(ValueError):
    """A component refused to declare something a rule forbids; the message says how to fix it."""


def refuse(findings: list[Finding]) -> None:
    """Raise for the first error; warnings pass (plan reports them)."""
    for finding in findings:
        if finding.severity == "error":
            raise SecurityViolation(finding.line())


def check_ssh_cidr(cidr: str, allow_world: bool, resource: str = "ssh.allowed_cidr") -> list[Finding]:
    """SSH open to the whole internet only when the spec says so explicitly (ssh.allow_world)."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.prefixlen == 0 and not allow_world:
        return [Finding("ssh-world-open", "error", resource,
                        f"SSH ingress from {cidr} is open to the whole internet; give the network you connect "
                        "from, or set ssh.allow_world: true to accept the risk")]
    if network.prefixlen == 0:
        return [Finding("ssh-world-open", "warning", resource,
                        f"SSH ingress from {cidr} is open to the whole internet (ssh.allow_world is set)")]
    return []
