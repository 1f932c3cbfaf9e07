"""Without root the cluster and remote tests skip on a developer's machine but fail under CI, so a CI run cannot
pass by skipping them."""

from __future__ import annotations

import os
import sys

import pytest

from tests.root import need_root

NOT_ROOT = 1000


@pytest.mark.parametrize("ci", ["1", "true", "yes"])
def test_without_root_under_ci_is_a_failure_naming_what_to_do(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: NOT_ROOT)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="the cluster tests need Linux and root; CI must run them"):
        need_root("the cluster tests")


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_without_root_outside_ci_is_a_skip_with_its_reason(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: NOT_ROOT)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="the cluster tests need Linux and root"):
        need_root("the cluster tests")


def test_a_missing_program_under_ci_is_a_failure_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="and /nonexistent/sshd; CI must run them"):
        need_root("the remote tests", "/nonexistent/sshd")


def test_root_on_linux_with_the_program_runs_the_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("CI", "1")
    need_root("the remote tests", sys.executable)
