"""The local Resource Manager as fixtures, for the Azure tests and for any other folder whose test crosses Azure's
boundary (``tests/local/test_stack_scale.py``). ``tests/azure/conftest.py`` imports them; a module elsewhere binds
them by name: ``arm_server, arm, azure_session = arm_fixture.arm_server, arm_fixture.arm, arm_fixture.azure_session``
(an assignment, not an import, which ruff would flag as redefined by every test's parameter)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from targets.azure.session import AzureSession
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm, StaticCredential


@pytest.fixture(scope="session")
def arm_server() -> Iterator[FakeArm]:
    server = FakeArm()
    yield server
    server.stop()


@pytest.fixture
def arm(arm_server: FakeArm) -> FakeArm:
    """The local Resource Manager, emptied for each test."""
    arm_server.reset()
    return arm_server


@pytest.fixture
def azure_session(arm: FakeArm) -> AzureSession:
    """A session whose clients talk to ``arm`` over TLS, trusting its certificate."""
    return AzureSession(subscription_id=SUBSCRIPTION, credential=StaticCredential(), endpoint=arm.url,
                        verify=arm.ca_file)
