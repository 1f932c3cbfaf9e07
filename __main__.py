"""The Pulumi program: the environment spec from the stack's config (``pulumi.Config``, so ``pulumi config set``,
``--config-file`` and ESC environments apply), declared by ``stacks/``, with config secrets kept secret.

Thin on purpose: validation lives in `spec/`, resources in `components/`, compositions in `stacks/`.
"""

import pulumi

import stacks
from spec.errors import SpecError
from spec.loader import read_public_key, validate
from spec.stack_config import spec_from_config
from stacks.config_secrets import keep_inputs_secret, keep_secret, secret_texts
from stacks.engine_config import engine_config

config = engine_config()
try:
    environment = validate(spec_from_config(config.values, pulumi.get_project(), pulumi.get_stack(),
                                            f"the config of stack {pulumi.get_stack()}"))
    public_key = read_public_key(environment)
except SpecError as exc:
    raise pulumi.RunError(str(exc)) from None

secrets = secret_texts(config.values, config.secret_keys)
keep_inputs_secret(secrets)
try:
    exports = stacks.build(environment, public_key)
except ValueError as exc:  # a component refusing the spec (a SecurityViolation too) says why in one line
    raise pulumi.RunError(str(exc)) from None
for key, value in exports.items():
    pulumi.export(key, keep_secret(value, secrets))
