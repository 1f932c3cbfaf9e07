"""Config values set as secrets stay secret wherever the program puts them.

The spec is validated from plain values, so the secrecy the engine gave them is restored on the way out:
every string of a secret config key is a secret text, and each resource input and stack export that carries
one becomes a secret Output, which Pulumi encrypts in the state and masks in its output. (What the cloud shows
of a resource is another matter: an ECS task definition shows its environment to whoever may describe it.)

The engine marks a whole top-level key secret when any path under it is (``pulumi config set --secret --path
cloud-hpc-toolkit:containers.environment.DATABASE_URL``), so the program cannot tell which of the key's strings
was set as the secret: all of them count. A text is tracked by the engine's own rule for masking secrets in
its output: not below 3 characters, not ``true`` or ``false``, and also in its JSON-escaped form.

Inputs are marked by a stack transformation, which the SDK runs as each resource is constructed, so it works
alike under mocks and for real (transforms registered with ``register_resource_transform`` run in the engine,
which the mock monitor leaves out). It does not reach the children of packaged (multi-language) components;
this project has none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

import pulumi
from pulumi import _types

from spec.stack_config import decoded


@dataclass(frozen=True)
class SecretTexts:
    patterns: frozenset[str]  # each secret text and its JSON-escaped form

    def carried_by(self, text: str) -> bool:
        return any(pattern in text for pattern in self.patterns)


def secret_texts(values: Mapping[str, str | None], secret_keys: frozenset[str]) -> SecretTexts:
    """The texts to keep secret: the strings in the value of each secret key (objects arrive as JSON text)."""
    patterns: set[str] = set()
    for key in secret_keys:
        for text in _strings(decoded(values.get(key))):
            if len(text) >= 3 and text.lower() not in ("true", "false"):
                patterns |= {text, json.dumps(text)[1:-1]}
    return SecretTexts(frozenset(patterns))


def keep_secret(value: Any, secrets: SecretTexts) -> Any:
    """``value`` (an input or an export) with each part that carries a secret text made a secret Output: a
    string, or what an Output resolves to; dicts, lists and args classes are gone through part by part. Without
    secrets, ``value`` itself: a stack without secrets is declared exactly as before."""
    if not secrets.patterns:
        return value
    if isinstance(value, pulumi.Output):
        return value.apply(lambda resolved: pulumi.Output.secret(resolved) if _carries(resolved, secrets)
                           else resolved)
    if isinstance(value, str):
        return pulumi.Output.secret(value) if secrets.carried_by(value) else value
    if isinstance(value, dict):
        if any(isinstance(key, str) and secrets.carried_by(key) for key in value):
            return pulumi.Output.secret(value)
        return {key: keep_secret(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [keep_secret(item, secrets) for item in value]
    if _types.is_input_type(type(value)):  # rebuilt from its attributes, as Output.from_input does
        return type(value)(**{key: keep_secret(item, secrets) for key, item in vars(value).items()})
    if isawaitable(value):
        return keep_secret(pulumi.Output.from_input(value), secrets)
    return value


def keep_inputs_secret(secrets: SecretTexts) -> None:
    """From now on, every resource's inputs go through :func:`keep_secret`."""
    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        props = {key: keep_secret(value, secrets) for key, value in args.props.items()}
        return pulumi.ResourceTransformationResult(props, args.opts)

    pulumi.runtime.register_stack_transformation(transformation)


def _carries(value: Any, secrets: SecretTexts) -> bool:
    return any(secrets.carried_by(text) for text in _strings(value, keys=True))


def _strings(value: Any, keys: bool = False) -> Iterator[str]:
    """Every string in ``value`` (and its mapping keys with ``keys``), through dicts, lists and args classes."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if keys and isinstance(key, str):
                yield key
            yield from _strings(item, keys)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, keys)
    elif _types.is_input_type(type(value)):
        yield from _strings(vars(value), keys)
