"""One error class for every Azure step, whose message names the step and what to do next."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import AzureError as SdkError

from targets.errors import TargetError


class AzureError(TargetError):
    """An Azure step failed; the message says which step and what to do."""


@contextmanager
def step(what: str, hint: str) -> Iterator[None]:
    """Turn an Azure SDK failure inside ``with step(...)`` into one ``AzureError`` line, not a traceback."""
    try:
        yield
    except SdkError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AzureError(f"{what}: {first}; {hint}") from exc
