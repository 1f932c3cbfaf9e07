"""Keys the local target generates at ``up``: node host keys, the user's key, the munge key, the Spark secret.

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
    _write_once(path, secrets.token_bytes(1024))


def spark_secret(path: Path) -> None:
    """The Spark cluster's shared secret (``spark.authenticate.secret``: text, 256 random bits), unless one exists."""
    _write_once(path, secrets.token_hex(32).encode())


def _write_once(path: Path, content: bytes) -> None:
    """Create ``path`` 0600 with ``content``; an existing file is kept as it is."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
