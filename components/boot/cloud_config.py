"""The cloud-config document a cloud node boots from (AWS user data, Azure custom data). It holds no secret.

Why cloud-config rather than a bare script: cloud-init's ssh module deletes the image's host keys in its init stage,
before sshd first starts, and (``ssh_genkeytypes: []``) generates none in their place; so sshd cannot start until
the boot script has fetched the pinned host key from the cloud's secret store and started it, and a connection made
while the node boots can only be refused (retried), never meet another key (never retried). ``write_files`` (init
stage) puts the boot script, the secrets fetcher and, on Azure, the ansible/ bundle in place; ``runcmd`` (final
stage) runs the script, which reports its progress in the status file, then removes it from tmpfs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.boot import node_secrets
from components.boot.cloud_files import document, run_command
from components.boot.config import BootConfig
from components.boot.script import NODE_SECRETS, STAGE, boot_script

BOOT_PATH = f"{STAGE}/boot.sh"
RUN = run_command(BOOT_PATH)


def cloud_config(config: BootConfig, files: Sequence[dict[str, str]] = ()) -> str:
    """The document (JSON, which YAML reads) booting a node of ``config`` with the extra ``write_files`` entries
    ``files``. Names the node role's secret; carries none (the host key's public half only)."""
    if config.host_public_key is None:
        raise ValueError(f"cloud-config of a {config.role} node: a cloud node needs its pinned host key")
    return document(files, NODE_SECRETS, Path(node_secrets.__file__).read_bytes(), BOOT_PATH, boot_script(config))
