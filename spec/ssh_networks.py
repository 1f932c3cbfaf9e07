"""How broad a network SSH may be opened to: one rule for the spec, the network components and the plan.

Standard library only, for the policy pack (see :mod:`spec.findings`).
"""

from __future__ import annotations

import ipaddress

from spec.findings import Finding

# The broadest SSH source networks allowed without ssh.allow_world, as (IPv4, IPv6) prefix lengths: an IPv4 /8 is
# the largest block ever given to one organisation (a former class A), an IPv6 /32 the usual allocation to a whole
# provider; anything broader spans many organisations, so it is no "network you connect from" (128.0.0.0/1 is half
# the internet). The spec's ssh.min_prefix and ssh.min_prefix_v6 change them.
SSH_MIN_PREFIX = (8, 32)


def check_ssh_cidr(cidr: str, allow_world: bool, resource: str = "ssh.allowed_cidr",
                   min_prefix: tuple[int, int] = SSH_MIN_PREFIX) -> list[Finding]:
    """SSH open to the whole internet, or to a network broader than ``min_prefix`` (IPv4, IPv6), only when the
    spec says so explicitly (ssh.allow_world)."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.prefixlen == 0 and not allow_world:
        return [Finding("ssh-world-open", "error", resource,
                        f"SSH ingress from {cidr} is open to the whole internet; give the network you connect "
                        "from, or set ssh.allow_world: true to accept the risk")]
    if network.prefixlen == 0:
        return [Finding("ssh-world-open", "warning", resource,
                        f"SSH ingress from {cidr} is open to the whole internet (ssh.allow_world is set)")]
    least, field = (min_prefix[0], "ssh.min_prefix") if network.version == 4 else \
        (min_prefix[1], "ssh.min_prefix_v6")
    if network.prefixlen >= least:
        return []
    share = f"1/{2 ** network.prefixlen:,} of the IPv{network.version} internet"
    if allow_world:
        return [Finding("ssh-broad-open", "warning", resource,
                        f"SSH ingress from {cidr} is open to {share} (ssh.allow_world is set)")]
    return [Finding("ssh-broad-open", "error", resource,
                    f"SSH ingress from {cidr} is open to {share}, broader than /{least} ({field}); give the "
                    f"network you connect from, lower {field}, or set ssh.allow_world: true to accept the risk")]
