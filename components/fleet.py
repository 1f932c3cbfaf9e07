"""What every cloud's Slurm cluster component shares with the outputs contract: the tag compute nodes
are found by, and the form in which host keys are pinned."""

from __future__ import annotations

FLEET_TAG_KEY = "cloud-hpc-toolkit:fleet"


def openssh_public(key: str) -> str:
    """"ssh-ed25519 AAAA..." without comment or newline, as the outputs contract pins it."""
    return " ".join(key.split()[:2])
