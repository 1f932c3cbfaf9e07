"""The Pulumi program: read the environment spec from the stack's config and declare it.

Thin on purpose: validation lives in `spec/`, resources in `components/`, compositions in `stacks/`.
"""

from pathlib import Path

import pulumi

import stacks
from spec.errors import SpecError
from spec.loader import load_stack_config, read_public_key

PROJECT = Path(__file__).resolve().parent

try:
    environment = load_stack_config(pulumi.get_stack(), PROJECT)
    public_key = read_public_key(environment)
except SpecError as exc:
    raise pulumi.RunError(str(exc)) from None

for key, value in stacks.build(environment, public_key).items():
    pulumi.export(key, value)
