"""Keys the local target generates at ``up``: node host keys, the user's key, the munge key.

Private halves are written 0600; only public halves go into the outputs contract.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from targets.local.commands import sh


def ssh_keypair(path: Path, comment: str) -> str:
    """Create an ed25519 key at ``path`` unless it exists; return the public line "ssh-ed25519 AAAA..."."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], "generate SSH key")
    os.chmod(path, 0o600)
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def munge_key(path: Path) -> None:
    """A random 1024-byte munge key (what ``mungekey`` makes), unless one exists."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(1024))
