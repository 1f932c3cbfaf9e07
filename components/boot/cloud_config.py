"""The cloud-config document a cloud node boots from (AWS user data, Azure custom data).

Why cloud-config rather than a bare script: cloud-init's ssh module writes the pinned host key in its init stage,
before sshd first starts, after deleting the image's keys; so sshd never serves any other key, and a connection
made while the node boots can only fail to log in (retried), never meet a host-key mismatch (never retried).
``write_files`` (init stage) puts the boot script, and on Azure the ansible/ bundle, in place; ``runcmd`` (final
stage) runs the script, which reports its progress in the status file, then removes it from tmpfs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from components.boot.config import BootConfig
from components.boot.script import STAGE, boot_script

BOOT_PATH = f"{STAGE}/boot.sh"
RUN = f"sh {BOOT_PATH}; status=$?; rm -f {BOOT_PATH}; exit $status"


def cloud_config(config: BootConfig, files: Sequence[dict[str, str]] = ()) -> str:
    """The document (JSON, which YAML reads) booting a node of ``config`` with the extra ``write_files`` entries
    ``files``. Holds the host private key and the boot script, readable by root only on the node: secret."""
    if config.host_key is None:
        raise ValueError(f"cloud-config of a {config.role} node: a cloud node needs its pinned host key")
    document = {
        "ssh_deletekeys": True,  # the image's own keys go before sshd starts...
        "ssh_genkeytypes": ["ed25519"],  # ... and none is generated in their place (ssh_keys are given)
        "ssh_keys": {"ed25519_private": config.host_key.private.strip() + "\n",
                     "ed25519_public": config.host_key.public.strip()},
        "write_files": [*files, {"path": BOOT_PATH, "content": boot_script(config), "owner": "root:root",
                                 "permissions": "0700"}],
        "runcmd": [["sh", "-c", RUN]],
    }
    return "#cloud-config\n" + json.dumps(document, sort_keys=True)
