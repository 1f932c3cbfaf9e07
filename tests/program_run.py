"""Run the real Pulumi program (``__main__.py``) offline, fed its config the way the Pulumi CLI feeds it.

No pytest here: the fresh-venv test runs this module in a venv holding only ``requirements.txt``.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc, settings

from targets.plan.mock_run import PlannedResource, evaluate, redact, secrets_in_place

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "cloud-hpc-toolkit"


@dataclass(frozen=True)
class ProgramRun:
    resources: list[PlannedResource]  # inputs with each secret "[secret]" where it sits
    exports: dict[str, Any]  # likewise


def shipped_config(stack: str) -> dict[str, Any]:
    """The ``config:`` mapping of the project's ``Pulumi.<stack>.yaml``."""
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def engine_view(config: Mapping[str, Any], plaintexts: Mapping[str, str] | None = None) -> tuple[dict[str, str],
                                                                                                   list[str]]:
    """A stack file's ``config:`` as the CLI hands it to the program (``PULUMI_CONFIG`` and
    ``PULUMI_CONFIG_SECRET_KEYS``): top-level values as text, objects as JSON text, each ``{secure: ...}``
    decrypted (``plaintexts`` maps ciphertext to plaintext), and the keys that hold one."""
    secret: list[str] = []

    def decrypt(value: Any, key: str) -> Any:
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret.append(key)
            return (plaintexts or {})[value["secure"]]
        if isinstance(value, dict):
            return {name: decrypt(item, key) for name, item in value.items()}
        if isinstance(value, list):
            return [decrypt(item, key) for item in value]
        return value

    values: dict[str, str] = {}
    for key, value in config.items():
        plain = decrypt(value, key)
        values[key] = json.dumps(plain, sort_keys=True, separators=(",", ":")) if isinstance(plain, (dict, list)) \
            else json.dumps(plain) if isinstance(plain, bool) else str(plain)
    return values, sorted(set(secret))


def run_program(stack: str, config: Mapping[str, str], secret_keys: Iterable[str] = (),
                region: str = "us-east-1") -> ProgramRun:
    """The resources ``__main__.py`` declares and what it exports, for ``config`` as the engine passes it."""
    exports: dict[str, Any] = {}

    def program() -> pulumi.Output:
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))  # as the language host does
        runpy.run_path(str(ROOT), run_name="__main__")
        outputs = settings.get_root_resource().outputs
        return pulumi.Output.from_input(rpc.serialize_properties(outputs, {})).apply(
            lambda struct: exports.update(redact(rpc.deserialize_properties(secrets_in_place(struct)))))

    return ProgramRun(evaluate(program, project=PROJECT, stack=stack, region=region), exports)


def summary(run: ProgramRun) -> dict[str, Any]:
    """What a run declared (resource types with their counts) and the names it exported, as JSON."""
    types: dict[str, int] = {}
    for resource in run.resources:
        types[resource.type] = types.get(resource.type, 0) + 1
    return {"types": dict(sorted(types.items())), "exports": sorted(run.exports)}


def main() -> None:
    """``python -m tests.program_run`` < runs: each run's summary on one line (the fresh-venv test's driver).

    A run is ``{"stack": ..., "config": ..., "secret_keys": [...], "region": ...}``."""
    for spec in json.load(sys.stdin):
        run = run_program(spec["stack"], spec["config"], spec["secret_keys"], spec["region"])
        print(json.dumps(summary(run), sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
