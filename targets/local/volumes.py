"""Block volumes of the local target: sparse files attached to loop devices (the stand-in for EBS)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from targets.local.commands import LocalError, sh


def attach(backing: Path, size_gb: int) -> str:
    """Create the sparse backing file if it is new (a retained one keeps its data) and attach it."""
    backing.parent.mkdir(parents=True, exist_ok=True)
    if not backing.exists():
        try:
            with open(backing, "wb") as out:
                out.truncate(size_gb * 1024**3)
        except OSError as exc:
            backing.unlink(missing_ok=True)
            raise LocalError(f"attach volume {backing.name}: cannot make a {size_gb} GB backing file in "
                             f"{backing.parent} ({exc.strerror}); use a smaller size_gb for the local "
                             "target") from exc
    return sh(["losetup", "--find", "--show", str(backing)], f"attach volume {backing.name}").stdout.strip()


def attached_under(folder: Path, prefix: str = "") -> list[str]:
    """Loop devices whose backing file lies under ``folder`` (found by asking the kernel, not a record), and whose
    path starts with ``prefix`` when one is given (one node's files)."""
    out = sh(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE"], "list loop devices").stdout
    devices = json.loads(out or '{"loopdevices": []}')["loopdevices"]
    start = prefix or str(folder.resolve()) + "/"
    return [d["name"] for d in devices if (d.get("back-file") or "").startswith(start)]


def detach_all(folder: Path, prefix: str = "", timeout: float = 30) -> None:
    """Detach every loop device backed by a file under ``folder`` (and starting with ``prefix``); waits while a
    dying mount holds one."""
    deadline = time.monotonic() + timeout
    while True:
        busy = []
        for device in attached_under(folder, prefix):
            if sh(["losetup", "--detach", device], f"detach {device}", check=False).returncode != 0:
                busy.append(device)
        if not busy and not attached_under(folder, prefix):
            return
        if time.monotonic() > deadline:
            raise LocalError(f"detach volumes: {', '.join(busy)} still busy after {timeout:.0f} s; "
                             "something outside the environment has them mounted (see `findmnt`)")
        time.sleep(0.2)
