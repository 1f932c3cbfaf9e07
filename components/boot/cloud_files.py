"""The cloud-config document's shape and its ``write_files`` entries, in the standard library alone: the deployer
renders compute nodes' custom data with it (``cloud_config.py``), and so does the Azure head's power program
(``azure_power.py``) when it creates a node, from the bundle and fetcher the head already holds, since Azure's 64 KB
of custom data leave the head no room to carry a second copy of them."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from pathlib import Path

CUSTOM_DATA_LIMIT = 65535  # bytes of custom data Azure takes (before its base64 encoding)
VARIABLES_END = "CHPC_VARS_EOF"  # ends the here-document a boot script writes its variables file with (script.py)


def gzipped_file(path: str, content: bytes, permissions: str) -> dict[str, str]:
    """A ``write_files`` entry writing ``content`` to ``path``, root's, gzipped without a timestamp so the same
    content always gives the same document (no diff on every preview)."""
    return {"path": path, "encoding": "gz+b64", "content": base64.b64encode(gzip.compress(content, mtime=0)).decode(),
            "owner": "root:root", "permissions": permissions}


def folder_files(folder: Path, into: str) -> list[dict[str, str]]:
    """``write_files`` entries recreating ``folder`` under ``into``, gzipped, executables 0755."""
    return [gzipped_file(f"{into}/{path.relative_to(folder).as_posix()}", path.read_bytes(),
                         "0755" if path.stat().st_mode & 0o100 else "0644")
            for path in sorted(p for p in folder.rglob("*") if p.is_file())]


def run_command(boot_path: str) -> str:
    """The one ``runcmd`` line: the boot script runs once, then leaves tmpfs."""
    return f"sh {boot_path}; status=$?; rm -f {boot_path}; exit $status"


def document(files: Sequence[dict[str, str]], fetcher_path: str, fetcher: bytes, boot_path: str,
             boot_script: str) -> str:
    """The cloud-config (JSON, which YAML reads): ``files``, the secrets fetcher and the boot script written in the
    init stage, the boot script run in the final one. The image's host keys go before sshd starts and none is
    generated: the boot script installs the pinned one."""
    return "#cloud-config\n" + json.dumps({
        "ssh_deletekeys": True, "ssh_genkeytypes": [],
        "write_files": [*files, gzipped_file(fetcher_path, fetcher, "0700"),
                        {"path": boot_path, "content": boot_script, "owner": "root:root", "permissions": "0700"}],
        "runcmd": [["sh", "-c", run_command(boot_path)]],
    }, sort_keys=True)


def with_variables(boot_script: str, change: dict[str, object]) -> str:
    """``boot_script`` writing its variables file (the roles' variables) with ``change`` merged in."""
    opening = f"<<'{VARIABLES_END}'\n"
    start = boot_script.index(opening) + len(opening)
    end = boot_script.index(f"\n{VARIABLES_END}\n", start)
    variables = {**json.loads(boot_script[start:end]), **change}
    return boot_script[:start] + json.dumps(variables, indent=2, sort_keys=True) + boot_script[end:]


def custom_data(document: str) -> str:
    """``document`` as Azure custom data: gzipped whole (cloud-init unzips gzipped user data before reading it), so
    the bundle's base64 weighs a quarter less, then base64; refused past Azure's limit with what to do about it."""
    packed = gzip.compress(document.encode(), mtime=0)
    if len(packed) > CUSTOM_DATA_LIMIT:
        raise ValueError(f"custom data of {len(packed)} bytes gzipped exceeds Azure's {CUSTOM_DATA_LIMIT}: the "
                         "ansible/ bundle has grown too large to travel in custom data; ship it as a blob instead")
    return base64.b64encode(packed).decode()
