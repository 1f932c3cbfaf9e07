"""Fixtures every test folder may use."""

from tests.pulumi_helpers import registrations  # noqa: F401  (a fixture, made visible to all tests)
