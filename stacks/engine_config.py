"""The stack's config as the Pulumi engine hands it to the program, read through ``pulumi.Config``.

``pulumi config set`` (``--path`` too), ``--config-file`` and Pulumi ESC environments all arrive this way:
every key as ``namespace:key`` with a string value (objects as JSON text, secrets decrypted), and the names
of the keys that hold a secret. The SDK has no call that lists the keys, so they are taken from the runtime's
config store (filled by the language host from ``PULUMI_CONFIG``) and from ``PULUMI_CONFIG`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi.runtime import config as runtime_config


@dataclass(frozen=True)
class EngineConfig:
    values: dict[str, str | None]
    secret_keys: frozenset[str]  # a key whose value, or any path under it, was set with --secret


def engine_config() -> EngineConfig:
    keys = sorted(set(runtime_config.CONFIG.get()) | set(pulumi.runtime.get_config_env()))
    values: dict[str, str | None] = {}
    for key in keys:
        namespace, _, name = key.partition(":")
        values[key] = pulumi.Config(namespace).get(name)
    listed = set(pulumi.runtime.get_config_secret_keys_env())
    return EngineConfig(values, frozenset(key for key in keys
                                          if key in listed or pulumi.runtime.is_config_secret(key)))
