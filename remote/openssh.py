"""The OpenSSH command line for an interactive shell, with the contract's host keys pinned.

Interactive terminals are OpenSSH's job; the pinning is ours: a known_hosts file written from the
outputs contract and ``StrictHostKeyChecking=yes``, compute nodes through the head (ProxyJump).
"""

from __future__ import annotations

import os
import shlex
import tempfile

from spec.outputs import Outputs


def known_hosts_file(outputs: Outputs) -> str:
    """A 0600 known_hosts with every node's pinned key, under the user's runtime folder."""
    fd, path = tempfile.mkstemp(prefix=f"chpc-{outputs.name}-known_hosts-")
    with os.fdopen(fd, "w") as out:
        for node in outputs.nodes():
            out.write(f"{node.address} {node.host_key}\n")
    return path


def ssh_argv(outputs: Outputs, node_name: str, command: str | None = None) -> list[str]:
    node = outputs.node(node_name)
    known = known_hosts_file(outputs)
    common = ["-i", outputs.ssh_private_key, "-o", f"UserKnownHostsFile={known}",
              "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-l", outputs.ssh_user]
    argv = ["ssh", *common]
    if node.name != outputs.head.name:
        # ProxyCommand rather than -J: -J would not carry the key and pinned known_hosts to the head.
        jump = shlex.join(["ssh", *common, "-W", "%h:%p", outputs.head.address])
        argv += ["-o", f"ProxyCommand={jump}"]
    argv.append(node.address)
    if command:
        argv.append(command)
    return argv
