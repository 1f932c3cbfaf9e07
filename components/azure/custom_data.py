"""Custom data for Azure nodes: the same cloud-config as on AWS (``components/boot/cloud_config.py``), which also
writes the ``ansible/`` bundle file by file, so the boot script finds it in place instead of fetching it.

Why the bundle travels inside the custom data rather than as a blob: it is small (the head's whole document, the
bundle and its power programs included, is about 45 KB gzipped against Azure's 64 KB limit), and a blob would need a
storage account reachable from the subnet, a managed identity, a role assignment the deployer may not be allowed to
make (Owner or User Access Administrator), and a token fetch racing the role's propagation at first boot. The roles
hold nothing secret, and neither does the rest of the custom data (the keys wait in Key Vault).
"""

from __future__ import annotations

from pathlib import Path

from components.boot.cloud_files import CUSTOM_DATA_LIMIT, custom_data, folder_files
from components.boot.config import BUNDLE_DIR

LIMIT = CUSTOM_DATA_LIMIT


def bundle_files(ansible_dir: Path, bundle_dir: str = BUNDLE_DIR) -> list[dict[str, str]]:
    """cloud-init ``write_files`` entries recreating ``ansible_dir`` under ``bundle_dir``, gzipped."""
    return folder_files(ansible_dir, bundle_dir)


def encode(document: str) -> str:
    """The custom data Azure takes (gzipped, base64); refused past Azure's limit."""
    return custom_data(document)
