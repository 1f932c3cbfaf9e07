"""The Pulumi program: read the environment spec from the stack's config and declare it.

Thin on purpose: validation lives in `spec/`, resources in `components/`, compositions in `stacks/`.
"""

from pathlib import Path

import pulumi

from spec.errors import SpecError
from spec.loader import load_stack_config

try:
    environment = load_stack_config(pulumi.get_stack(), Path(__file__).resolve().parent)
except SpecError as exc:
    raise pulumi.RunError(str(exc)) from None

# The AWS and Azure stacks are not in this version yet (see the open issues); refuse rather than
# deploy an empty stack that looks like success.
raise pulumi.RunError(f"target {environment.target}: cloud stacks are not available in this version; "
                      "use `invoke up --target local`")
