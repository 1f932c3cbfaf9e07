"""The stand-in Pulumi CLI on PATH for a test, with its file backend in the test's folder."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.pulumi_cli.fake_pulumi import SECRET_SIG

BIN = Path(__file__).resolve().parent / "bin"
PROJECT = "cloud-hpc-toolkit"


@dataclass(frozen=True)
class FakePulumi:
    backend: Path
    program_file: Path

    def env(self) -> dict[str, str]:
        """What a subprocess (the invoke CLI) needs to find this CLI and its backend."""
        return {"PATH": f"{BIN}:{os.environ['PATH']}", "PULUMI_BACKEND_URL": f"file://{self.backend}",
                "FAKE_PULUMI_PYTHON": sys.executable, "FAKE_PULUMI_PROGRAM": str(self.program_file),
                "PULUMI_SKIP_UPDATE_CHECK": "true"}

    def deploy(self, stack: str, outputs: dict[str, Any], *, secret: Iterable[str] = (),
               resources: Iterable[tuple[str, str]] = ()) -> None:
        """A stack deployed by someone else (a colleague, CI): its checkpoint, nothing on this machine."""
        secret = set(secret)
        path = self.backend / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        stack_outputs = {key: {SECRET_SIG[0]: SECRET_SIG[1], "plaintext": json.dumps(value)} if key in secret
                         else value for key, value in outputs.items()}
        urn = f"urn:pulumi:{stack}::{PROJECT}"
        path.write_text(json.dumps({
            "version": 3, "history": [],
            "checkpoint": {"stack": f"organization/{PROJECT}/{stack}", "latest": {"resources": [
                {"urn": f"{urn}::pulumi:pulumi:Stack::{PROJECT}-{stack}", "type": "pulumi:pulumi:Stack",
                 "custom": False, "outputs": stack_outputs},
                *({"urn": f"{urn}::{kind}::{name}", "type": kind, "custom": True, "outputs": {}}
                  for kind, name in resources)]}}}))

    def program(self, outputs: dict[str, Any], *, secret: Iterable[str] = (),
                resources: Iterable[tuple[str, str]] = (), fail_after: int | None = None, error: str = "") -> None:
        """What the next `up` deploys (``fail_after``: that many resources, then the update fails)."""
        self.program_file.write_text(json.dumps({
            "outputs": outputs, "secret_outputs": sorted(secret), "fail_after": fail_after, "error": error,
            "resources": [{"type": kind, "name": name} for kind, name in resources]}))

    def calls(self) -> list[list[str]]:
        """Every command line the CLI was given, without the global ``--non-interactive`` the API adds."""
        log = self.backend / "calls.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [[arg for arg in json.loads(line) if arg != "--non-interactive"] for line in lines]

    def ran(self, *words: str) -> bool:
        """Whether any call began with ``words`` (e.g. ``ran("up")``, ``ran("stack", "output")``)."""
        return any(call[:len(words)] == list(words) for call in self.calls())

    def stack_exists(self, stack: str) -> bool:
        return (self.backend / ".pulumi" / "stacks" / PROJECT / f"{stack}.json").exists()

    def resources(self, stack: str) -> list[str]:
        path = self.backend / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"
        latest = json.loads(path.read_text())["checkpoint"]["latest"]["resources"]
        return [r["urn"].rsplit("::", 1)[-1] for r in latest if r["type"] != "pulumi:pulumi:Stack"]


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePulumi]:
    cli = FakePulumi(backend=tmp_path / "pulumi-backend", program_file=tmp_path / "program.json")
    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    yield cli
