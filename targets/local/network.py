"""The private bridge network of a local environment: one bridge, one veth + netns per node.

Names derive from the environment name so that destroy can find them even without a state file.
Interface names are limited to 15 characters, hence the short hash.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path

from targets.local.commands import sh

NETNS_DIR = Path("/run/netns")


def short_id(env_name: str) -> str:
    return hashlib.sha1(env_name.encode()).hexdigest()[:6]


def bridge_name(env_name: str) -> str:
    return f"ch{short_id(env_name)}"


def netns_name(env_name: str, node: str) -> str:
    return f"chpc-{env_name}-{node}"


def veth_prefix(env_name: str) -> str:
    return f"ch{short_id(env_name)}n"


def veth_name(env_name: str, index: int) -> str:
    return f"{veth_prefix(env_name)}{index}"


def _routes_in_use() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    routes = json.loads(sh(["ip", "-j", "route", "show", "table", "all"], "read host routes").stdout or "[]")
    nets = []
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default" and ":" not in dst:
            nets.append(ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False))
    return nets


def choose_subnet(env_name: str) -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 picked from the name, skipping any that a host route already covers."""
    used = _routes_in_use()
    start = int(short_id(env_name), 16) % 200
    for step in range(256):
        net = ipaddress.ip_network(f"10.213.{(start + step) % 256}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free /24 in 10.213.0.0/16 for the local bridge; destroy an old environment")


def create_bridge(env_name: str, subnet: ipaddress.IPv4Network) -> None:
    bridge = bridge_name(env_name)
    sh(["ip", "link", "add", bridge, "type", "bridge"], f"create bridge {bridge}")
    sh(["ip", "addr", "add", f"{subnet[1]}/{subnet.prefixlen}", "dev", bridge], f"address bridge {bridge}")
    sh(["ip", "link", "set", bridge, "up"], f"bring up bridge {bridge}")


def create_netns(env_name: str, node: str, index: int, address: str, prefixlen: int) -> None:
    """A network namespace whose eth0 is plugged into the bridge."""
    ns, veth = netns_name(env_name, node), veth_name(env_name, index)
    step = f"network for node {node}"
    sh(["ip", "netns", "add", ns], step)
    sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns], step)
    sh(["ip", "link", "set", veth, "master", bridge_name(env_name), "up"], step)
    sh(["ip", "-n", ns, "addr", "add", f"{address}/{prefixlen}", "dev", "eth0"], step)
    sh(["ip", "-n", ns, "link", "set", "eth0", "up"], step)
    sh(["ip", "-n", ns, "link", "set", "lo", "up"], step)


def existing_netns(env_name: str) -> list[str]:
    prefix = netns_name(env_name, "")
    return sorted(p.name for p in NETNS_DIR.glob(f"{prefix}*")) if NETNS_DIR.exists() else []


def bridge_exists(env_name: str) -> bool:
    return Path("/sys/class/net", bridge_name(env_name)).exists()


def remove_all(env_name: str) -> None:
    """Delete the veths, the namespaces and the bridge; safe to repeat. A veth is deleted by name, not left to go with
    its namespace: the kernel frees a namespace, and the veth in it, only after its last process and a while later."""
    links = json.loads(sh(["ip", "-j", "link"], "list links").stdout or "[]")
    for link in links:
        if link["ifname"].startswith(veth_prefix(env_name)):
            sh(["ip", "link", "del", link["ifname"]], f"delete veth {link['ifname']}", check=False)
    for ns in existing_netns(env_name):
        sh(["ip", "netns", "del", ns], f"delete namespace {ns}", check=False)
    if bridge_exists(env_name):
        sh(["ip", "link", "del", bridge_name(env_name)], "delete bridge", check=False)
