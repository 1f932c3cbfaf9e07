"""A fresh recording mock per test: `set_mocks` is process-global, so never set it at import."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest

from tests.aws.mocks import RecordingMocks, SubnetMocks


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="cloud-hpc-toolkit", stack="test", preview=False)
    yield recorder


@pytest.fixture
def subnet_mocks() -> Iterator[SubnetMocks]:
    """The recorder for an existing VPC: its subnets are looked up (tests/aws/mocks.py SUBNETS)."""
    recorder = SubnetMocks()
    pulumi.runtime.set_mocks(recorder, project="cloud-hpc-toolkit", stack="test", preview=False)
    yield recorder
