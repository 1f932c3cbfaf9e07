"""Reading a node's cloud-config as cloud-init reads it, the boot script it carries and the variables that gives
the roles (for the AWS, Azure and cloud-config tests alike)."""

from __future__ import annotations

import base64
import gzip
import json
import re
from typing import Any

import yaml

from components.boot.cloud_config import BOOT_PATH


def custom_data_text(value: str) -> str:
    """Azure custom data as cloud-init reads it: base64, then gunzipped (the document is gzipped whole)."""
    return gzip.decompress(base64.b64decode(value)).decode()


def parsed(document: str) -> dict[str, Any]:
    """YAML after the #cloud-config line (the JSON it is written as is YAML too)."""
    assert document.startswith("#cloud-config\n")
    found = yaml.safe_load(document)
    assert found == json.loads(document.removeprefix("#cloud-config\n"))
    return found


def boot_of(document: dict[str, Any]) -> str:
    """The boot script the document writes, root-only."""
    [boot] = [entry for entry in document["write_files"] if entry["path"] == BOOT_PATH]
    assert (boot["permissions"], boot["owner"]) == ("0700", "root:root")
    return boot["content"]


def variables_of(script: str) -> dict[str, Any]:
    """The ansible variables the boot script writes for the roles (before the node fills in its own names)."""
    found = re.search(r"<<'CHPC_VARS_EOF'\n(.*?)\nCHPC_VARS_EOF\n", script, re.S)
    assert found, "the boot script writes no variables file"
    return json.loads(found.group(1))
