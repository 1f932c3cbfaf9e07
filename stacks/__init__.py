"""Compositions of components selected by what the spec builds (`Environment.parts`: hpc, spark, containers, as
its sections ask; `spec/stack_choice.py`) and its `target`.

`build(env, public_key)` declares the resources and returns the outputs contract as a dict of plain
values and Outputs; `__main__.py` exports it, `invoke plan` evaluates it under mocks.
"""

from __future__ import annotations

from typing import Any

from spec.environment import Environment


def build(env: Environment, public_key: str) -> dict[str, Any]:
    if env.target == "aws":
        from stacks import aws

        return aws.build(env, public_key)
    if env.target == "azure":
        from stacks import azure

        return azure.build(env, public_key)
    raise ValueError(f"target {env.target}: no Pulumi stacks for it in this version (aws and azure only)")
