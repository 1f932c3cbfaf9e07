"""Custom data for Azure nodes: the same cloud-config as on AWS (``components/boot/cloud_config.py``), which also
writes the ``ansible/`` bundle file by file, so the boot script finds it in place instead of fetching it.

Why the bundle travels inside the custom data rather than as a blob: it is small (about 10 KB gzipped
against Azure's 64 KB limit), and a blob would need a storage account reachable from the subnet, a
managed identity, a role assignment the deployer may not be allowed to make (Owner or User Access
Administrator), and a token fetch racing the role's propagation at first boot. The roles hold nothing secret, and
neither does the rest of the custom data (the keys wait in Key Vault).
"""

from __future__ import annotations

import base64
from pathlib import Path

from components.boot.cloud_files import folder_files
from components.boot.config import BUNDLE_DIR

# Azure takes at most 65,535 bytes of custom data (before its base64 encoding).
LIMIT = 65535


def bundle_files(ansible_dir: Path, bundle_dir: str = BUNDLE_DIR) -> list[dict[str, str]]:
    """cloud-init ``write_files`` entries recreating ``ansible_dir`` under ``bundle_dir``, gzipped."""
    return folder_files(ansible_dir, bundle_dir)


def encode(document: str) -> str:
    """The base64 custom data Azure takes; refused past Azure's limit with what to do about it."""
    size = len(document.encode())
    if size > LIMIT:
        raise ValueError(f"custom data of {size} bytes exceeds Azure's {LIMIT}: the ansible/ bundle has grown "
                         "too large to travel in custom data; ship it as a blob instead")
    return base64.b64encode(document.encode()).decode()
