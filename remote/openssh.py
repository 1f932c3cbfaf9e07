"""The OpenSSH command line for an interactive shell, with the contract's host keys pinned.

Interactive terminals are OpenSSH's job; the pinning is ours: a known_hosts file written from the
outputs contract and ``StrictHostKeyChecking=yes``, compute nodes through the head (ProxyCommand).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from spec.outputs import Outputs


def write_known_hosts(outputs: Outputs, path: Path) -> None:
    """Every node's pinned key in OpenSSH's format, 0600, replaced atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{node.address} {node.host_key}\n" for node in outputs.nodes())
    os.replace(tmp, path)


def ssh_argv(outputs: Outputs, node_name: str, known_hosts: Path, command: str | None = None) -> list[str]:
    node = outputs.node(node_name)
    write_known_hosts(outputs, known_hosts)
    known = str(known_hosts)
    common = ["-i", os.path.expanduser(outputs.ssh_private_key), "-o", f"UserKnownHostsFile={known}",
              "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-l", outputs.ssh_user]
    argv = ["ssh", *common]
    head = outputs.cluster_head()
    if node.name != head.name:
        # ProxyCommand rather than -J: -J would not carry the key and pinned known_hosts to the head.
        jump = shlex.join(["ssh", *common, "-W", "%h:%p", head.address])
        argv += ["-o", f"ProxyCommand={jump}"]
    argv.append(node.address)
    if command:
        argv.append(command)
    return argv
