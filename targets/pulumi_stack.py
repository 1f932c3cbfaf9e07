"""The cloud targets: `pulumi up` / `destroy` of this project's program through the Automation API.

The spec lives in the stack's config (`Pulumi.<stack>.yaml`); the stack's outputs are the outputs
contract, saved beside the local target's so that every later task reads them the same way.
Needs the Pulumi CLI (Automation API drives it); without it, one line says how to get it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from spec.environment import Environment
from spec.outputs import Outputs
from targets import state
from targets.errors import TargetError

PROJECT = Path(__file__).resolve().parents[1]


def _stack(stack_name: str) -> Any:
    if shutil.which("pulumi") is None:
        raise TargetError("the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/): install it, "
                          "or run `invoke plan` to see the stack offline")
    from pulumi import automation

    return automation.create_or_select_stack(stack_name=stack_name, work_dir=str(PROJECT))


def up(env: Environment, stack_name: str, console: Console) -> Outputs:
    stack = _stack(stack_name)
    result = stack.up(on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
    outputs = Outputs.model_validate({key: value.value for key, value in result.outputs.items()})
    outputs.save(state.outputs_path(env.name))
    (state.env_dir(env.name) / "stack").write_text(stack_name)
    return outputs


def resources(stack_name: str) -> list[str]:
    """What destroy would delete: "type name" of every resource in the stack's state."""
    deployment = _stack(stack_name).export_stack().deployment or {}
    return [f"{r['type']} {r['urn'].rsplit('::', 1)[-1]}" for r in deployment.get("resources", [])
            if not r["type"].startswith("pulumi:")]


def destroy(stack_name: str, console: Console) -> None:
    _stack(stack_name).destroy(on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
