"""The file in which a node says how its boot is going: the boot script rewrites it atomically at every step and
``remote/readiness.py`` reads it over SSH. One module for both sides of that contract, importing nothing else, in
spec/ beside the outputs contract, so remote/ reads it without importing Pulumi, the components or the targets.

It lives under /var/log, which is each node's own on every target (a local-target node mounts a private one), and
is readable by the SSH user, who is not root; the boot log next to it is root's only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

STATUS_DIR = "/var/log/cloud-hpc-toolkit"
STATUS_FILE = f"{STATUS_DIR}/boot-status.json"
BOOT_LOG = f"{STATUS_DIR}/boot.log"
State = Literal["running", "done", "failed"]
STATES: tuple[State, ...] = ("running", "done", "failed")


@dataclass(frozen=True)
class BootStatus:
    """``step`` is the step running, the one that failed, or the last one once done."""

    state: State
    step: str
    log: str


def parse(text: str) -> BootStatus | None:
    """The status a node reports, or None while it has none (its boot script has not started yet)."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("state") not in STATES:
        return None
    return BootStatus(state=found["state"], step=str(found.get("step", "")), log=str(found.get("log", BOOT_LOG)))


def writer_sh() -> str:
    """The sh function ``boot_status STATE STEP`` that rewrites the file: written beside it, then renamed over it,
    so a reader never sees half a file. Steps are the script's own constants (no quotes or backslashes)."""
    tmp = f"{STATUS_FILE}.tmp"
    return f"""boot_status() {{
    printf '{{"state": "%s", "step": "%s", "log": "%s"}}\\n' "$1" "$2" {BOOT_LOG} > {tmp} &&
        chmod 0644 {tmp} && mv -f {tmp} {STATUS_FILE}
}}
"""
