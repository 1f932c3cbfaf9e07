"""Fixtures for the boto3 tests. ``tests/aws/conftest.py`` stays the mocks' alone, so a test module binds
them by name: ``moto, aws_session = moto_fixture.moto, moto_fixture.aws_session`` (an assignment, not an
import, which ruff would flag as redefined by every test's parameter).

pytest keeps one definition of an imported fixture per importing module, so ``moto`` shares one server
through ``_RUNNING``: the first module to ask starts it, the others reuse it, and since session fixtures
are torn down last-in first-out, the one that started it stops it at the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.aws.moto_server import HERMETIC_ENV, UNSET_ENV, MotoServer, MotoSession

_RUNNING: list[MotoServer] = []


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    if _RUNNING:
        yield _RUNNING[0]
        return
    with pytest.MonkeyPatch.context() as patch:
        for name in UNSET_ENV:
            patch.delenv(name, raising=False)
        for name, value in HERMETIC_ENV.items():
            patch.setenv(name, value)
        server = MotoServer()
        _RUNNING.append(server)
        try:
            server.wait_ready()
            yield server
        finally:
            _RUNNING.clear()
            server.stop()


@pytest.fixture
def aws_session(moto: MotoServer) -> MotoSession:
    """A session on an empty moto account."""
    moto.reset()
    return MotoSession(moto.endpoint)
