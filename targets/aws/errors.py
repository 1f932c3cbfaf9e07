"""One error class for every AWS step, whose message names the step and what to do next."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from targets.errors import TargetError


class AwsError(TargetError):
    """An AWS step failed; the message says which step and what to do."""


@contextmanager
def step(what: str, hint: str) -> Iterator[None]:
    """Turn a boto3 failure inside ``with step(...)`` into one ``AwsError`` line instead of a traceback."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"{what}: {exc}; {hint}") from exc
