"""Which backend serves which target. Modules are imported only when their target is used: the local target
never loads Pulumi, boto3 or the Azure SDK."""

from __future__ import annotations

import importlib

from targets.backend import Backend
from targets.errors import UsageError

BACKENDS = {"local": "targets.local.backend", "aws": "targets.aws.backend", "azure": "targets.azure.backend"}


def backend_for(target: str) -> Backend:
    module = BACKENDS.get(target)
    if module is None:
        raise UsageError(f"target {target!r}: allowed: {', '.join(BACKENDS)}")
    backend: Backend = importlib.import_module(module).BACKEND
    return backend
