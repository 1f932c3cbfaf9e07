"""A Pulumi stack's config as an environment spec, by one set of rules wherever the config comes from.

The Pulumi program gets the config from the engine (every value a string, objects as JSON text, secrets
decrypted); ``invoke plan`` and ``invoke up`` read ``Pulumi.<stack>.yaml`` (YAML values, secrets still
``{secure: ...}`` ciphertext). Both go through :func:`spec_from_config`, so the same values give the same spec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from spec.errors import SpecError, brief_repr

# The provider's own region setting, used when the project's config names no region.
PROVIDER_REGION = {"aws": "aws:region", "azure": "azure-native:location"}
# What an offline reader puts where the stack file holds ciphertext: it plans, and shows the value redacted.
SECRET_PLACEHOLDER = "[secret]"


def spec_from_config(config: Mapping[str, Any], project: str, stack: str, source: str,
                     target: str | None = None) -> dict[str, Any]:
    """The spec in ``config``: each ``<project>:<field>`` key, plus the provider's region key when the project
    names no region; the name defaults to the stack's. ``source`` names the config in errors; ``target``, when
    given, overrides the spec's in choosing the provider."""
    spec: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if not namespace or not name:
            raise SpecError(f"spec error: {source}: config key {brief_repr(key)}: allowed: <namespace>:<key>, "
                            f"e.g. {project}:target")
        ours = namespace == project
        if ours and "." in name:
            raise SpecError(f"spec error: {source}: config key {brief_repr(key)}: a field inside a section; "
                            f"set it with `pulumi config set --path {key} VALUE`")
        try:
            readable = _readable(decoded(value) if ours else value)
        except RecursionError:
            raise SpecError(f"spec error: {source}: config key {brief_repr(key)}: nested too deeply") from None
        if ours:
            spec[name] = readable
        else:
            others[key] = readable
    spec.setdefault("name", name_from_stack(stack))
    chosen = target or spec.get("target", "local")
    provider_key = PROVIDER_REGION.get(chosen) if isinstance(chosen, str) else None
    if "region" not in spec and provider_key in others:
        region = others[provider_key]
        # Azure also takes display names ("West Europe"); the spec wants the location name.
        spec["region"] = region.lower().replace(" ", "") if chosen == "azure" and isinstance(region, str) \
            else region
    return spec


def name_from_stack(stack: str) -> str:
    """The stack name fitted to the name pattern: ``Prod_EU`` -> ``prod-eu``, ``1`` -> ``hpc-1``."""
    name = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"hpc-{name}"
    return name[:20].rstrip("-")


def decoded(value: object) -> object:
    """A section as the engine passes it (JSON text of an object or a list) -> the object; else ``value``."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if isinstance(parsed, (dict, list)):
            return parsed
    return value


def _readable(value: object, copies: dict[int, object] | None = None) -> object:
    """``value`` with each ``{secure: ...}`` (ciphertext only the Pulumi CLI can decrypt) as the placeholder.

    YAML aliases may share or nest a node in itself: each node is copied once (``copies``, by id), so shared
    nodes stay shared and a cycle stays a cycle instead of recursing without end."""
    copies = {} if copies is None else copies
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        if id(value) not in copies:
            mapping: dict[Any, object] = {}
            copies[id(value)] = mapping
            mapping.update((key, _readable(item, copies)) for key, item in value.items())
        return copies[id(value)]
    if isinstance(value, list):
        if id(value) not in copies:
            items: list[object] = []
            copies[id(value)] = items
            items.extend(_readable(item, copies) for item in value)
        return copies[id(value)]
    return value
