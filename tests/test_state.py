"""The state folder: one per user, environment names that cannot leave it, private files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from targets import state
from targets.errors import UsageError


def test_root_keeps_the_system_folder_and_everyone_else_gets_their_own(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("CHPC_STATE_DIR", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert state.state_root() == Path("/var/lib/cloud-hpc-toolkit")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert state.state_root() == tmp_path / "home" / ".local" / "state" / "cloud-hpc-toolkit"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state.state_root() == tmp_path / "xdg" / "cloud-hpc-toolkit"
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "chosen"))
    assert state.state_root() == tmp_path / "chosen"


def test_the_local_targets_nodes_see_the_default_state_folder_where_this_machine_has_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Its nodes read their munge key and shared folder there: none of the folders a node mounts privately holds
    root's default state folder (a node's kept boot variables once did), where one under /tmp is refused."""
    from targets.local.target import hidden_in_nodes

    monkeypatch.delenv("CHPC_STATE_DIR", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert hidden_in_nodes(state.state_root()) is None
    assert hidden_in_nodes(Path("/tmp/chpc-state")) == "/tmp"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "/etc", "Hpc", "1hpc", "hpc_dev", "a" * 21,
                                  "hpc\n", "hpc-dev/.."])
def test_a_name_that_is_not_an_environment_name_never_becomes_a_path(name: str, monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path))
    with pytest.raises(UsageError, match="environment name .*: allowed: a lowercase letter"):
        state.env_dir(name)


def test_folders_are_0700_and_files_0600_whatever_the_umask(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "new" / "root"))
    old = os.umask(0o022)
    try:
        folder = state.make_env_dir("hpc-dev")
        state.write_private(folder / "deployment.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "root").stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "deployment.json").stat().st_mode) == 0o600
    assert state.known_environments() == ["hpc-dev"]


def test_known_environments_ignore_folders_that_are_not_environments(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path))
    for folder, marker in (("up", "outputs.json"), ("building", "journal.json"), ("deploying", "deployment.json"),
                           ("failed", None), ("Not-A-Name", "outputs.json")):
        (tmp_path / folder).mkdir()
        if marker:
            (tmp_path / folder / marker).write_text("{}")
    assert state.known_environments() == ["building", "deploying", "up"]
