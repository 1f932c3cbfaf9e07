"""Fixtures every test folder may use."""

from tests.pulumi_cli.fixture import fake_pulumi  # noqa: F401  (the stand-in Pulumi CLI on PATH)
from tests.pulumi_helpers import registrations, user_home  # noqa: F401  (fixtures, made visible to all tests)
