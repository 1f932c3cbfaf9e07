"""Azurite, Microsoft's Azure Storage emulator (installed by `make setup` in .tools/azurite), as a Blob service
on 127.0.0.1 for one test session: a free port, data in memory, no telemetry. It speaks plain HTTP and knows
one account, ``devstoreaccount1``, with a published key."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from azure.core.credentials import AzureNamedKeyCredential

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".tools/azurite/node_modules/.bin/azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; it opens nothing but the emulator).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LISTENING = re.compile(r"listens on (http://127\.0\.0\.1:\d+)")


class Azurite:
    def __init__(self) -> None:
        if not BINARY.exists():
            raise RuntimeError(f"{BINARY} is missing: run `make setup` (it installs Azurite with npm)")
        self._process = subprocess.Popen(
            [str(BINARY), "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
             "--extentMemoryLimit", "64", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self._process.stdout is not None
        seen = []
        for line in self._process.stdout:  # Azurite prints its address once it listens
            seen.append(line)
            if match := LISTENING.search(line):
                self.account_url = f"{match[1]}/{ACCOUNT}"
                break
        else:
            raise RuntimeError(f"Azurite did not start: {''.join(seen)[-500:]}")
        self.credential = AzureNamedKeyCredential(ACCOUNT, KEY)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
