"""The host's filter that keeps every user but root off a local environment's bridge.

The nodes' daemons (sshd, the Spark master and workers) listen on the bridge, which any process of this machine
could otherwise reach. An nftables table per environment drops what a non-root socket sends out through the bridge
(`meta skuid`) and answers it at once (a TCP reset: connection refused; an ICMP "prohibited" otherwise), so
another user of the machine cannot even connect; packets without a socket (the kernel's own replies) and root's
pass. The table's name derives from the environment's name, so destroy finds it with no state.
"""

from __future__ import annotations

from targets.local.commands import sh
from targets.local.network import bridge_name, short_id


def table_name(env_name: str) -> str:
    return f"chpc-{short_id(env_name)}"


def ruleset(env_name: str) -> str:
    """The table as one nft script (loaded atomically: all of it or nothing)."""
    return (f"table inet {table_name(env_name)} {{\n"
            "  chain output {\n"
            "    type filter hook output priority filter; policy accept;\n"
            f'    oifname "{bridge_name(env_name)}" meta skuid != 0 meta l4proto tcp reject with tcp reset\n'
            f'    oifname "{bridge_name(env_name)}" meta skuid != 0 reject with icmpx type admin-prohibited\n'
            "  }\n"
            "}\n")


def exists(env_name: str) -> bool:
    listed = sh(["nft", "list", "table", "inet", table_name(env_name)], "read the host filter", check=False)
    return listed.returncode == 0


def allow_only_root(env_name: str) -> None:
    """Install the table (before the bridge exists, so there is no moment another user could connect)."""
    sh(["nft", "-f", "-"], f"filter the bridge {bridge_name(env_name)} to root (nftables)",
       input_text=ruleset(env_name))


def remove(env_name: str) -> None:
    """Delete the table; safe to repeat."""
    if exists(env_name):
        sh(["nft", "delete", "table", "inet", table_name(env_name)], "delete the host filter")
