"""What Pulumi mocks tests share: resource options as the engine receives them, secrets, stack exports, the
user's key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

import stacks
from spec.environment import Environment

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly user@test"


@pytest.fixture
def registrations(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Each resource's RegisterResource request by ``type::name``: the options the engine receives
    (``retainOnDelete``, ``ignoreChanges``, ``dependencies``), which ``MockResourceArgs`` does not carry."""
    seen: dict[str, Any] = {}
    register = MockMonitor.RegisterResource

    def recording(self: MockMonitor, request: Any) -> Any:
        seen[f"{request.type}::{request.name}"] = request
        return register(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", recording)
    yield seen


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME holding the user's public key (``~/.ssh/id_ed25519.pub``), which the program reads."""
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text(KEY + "\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def retained(request: Any) -> bool:
    """Whether a recorded registration asked for ``retain_on_delete`` (unset reads as False)."""
    return request.HasField("retainOnDelete") and request.retainOnDelete


def secret_value(value: Any) -> Any:
    assert is_rpc_secret(value), f"expected a secret, got plain {str(value)[:80]!r}"
    return unwrap_rpc_secret(value)


def plain_strings(value: Any) -> Iterator[str]:
    """Every string of a recorded input that is not inside a secret."""
    if is_rpc_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)


def with_volumes(env: Environment, volumes: list[dict[str, Any]]) -> Environment:
    """``env`` (a stack's spec) with the head's volumes replaced, validated again as the spec file would be."""
    spec = env.model_dump(by_alias=True, exclude_none=True)
    return Environment.model_validate({**spec, "storage": {**spec["storage"], "volumes": volumes}})


def export(env: Environment) -> dict[str, Any]:
    """The real program's exports for ``env`` (resolved), built under the mocks set by the caller's fixture."""
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        return pulumi.Output.from_input(stacks.build(env, KEY)).apply(exported.update)

    program()
    return exported
