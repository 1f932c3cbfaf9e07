"""The cloud-config document a cloud node boots from (AWS user data, Azure custom data). It holds no secret.

Why cloud-config rather than a bare script: cloud-init's ssh module deletes the image's host keys in its init stage,
before sshd first starts, and (``ssh_genkeytypes: []``) generates none in their place; so sshd cannot start until
the boot script has fetched the pinned host key from the cloud's secret store and started it, and a connection made
while the node boots can only be refused (retried), never meet another key (never retried). ``write_files`` (init
stage) puts the boot script, the secrets fetcher and, on Azure, the ansible/ bundle in place; ``runcmd`` (final
stage) runs the script, which reports its progress in the status file, then removes it from tmpfs.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from pathlib import Path

from components.boot import node_secrets
from components.boot.config import BootConfig
from components.boot.script import NODE_SECRETS, STAGE, boot_script

BOOT_PATH = f"{STAGE}/boot.sh"
RUN = f"sh {BOOT_PATH}; status=$?; rm -f {BOOT_PATH}; exit $status"


def gzipped_file(path: str, content: bytes, permissions: str) -> dict[str, str]:
    """A ``write_files`` entry writing ``content`` to ``path``, root's, gzipped without a timestamp so the same
    content always gives the same document (no diff on every preview)."""
    return {"path": path, "encoding": "gz+b64", "content": base64.b64encode(gzip.compress(content, mtime=0)).decode(),
            "owner": "root:root", "permissions": permissions}


def cloud_config(config: BootConfig, files: Sequence[dict[str, str]] = ()) -> str:
    """The document (JSON, which YAML reads) booting a node of ``config`` with the extra ``write_files`` entries
    ``files``. Names the node role's secret; carries none (the host key's public half only)."""
    if config.host_public_key is None:
        raise ValueError(f"cloud-config of a {config.role} node: a cloud node needs its pinned host key")
    document = {
        "ssh_deletekeys": True,  # the image's own keys go before sshd starts...
        "ssh_genkeytypes": [],  # ... and none is generated in their place: the boot script installs the pinned one
        "write_files": [*files,
                        gzipped_file(NODE_SECRETS, Path(node_secrets.__file__).read_bytes(), "0700"),
                        {"path": BOOT_PATH, "content": boot_script(config), "owner": "root:root",
                         "permissions": "0700"}],
        "runcmd": [["sh", "-c", RUN]],
    }
    return "#cloud-config\n" + json.dumps(document, sort_keys=True)
