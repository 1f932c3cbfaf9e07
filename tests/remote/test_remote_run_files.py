"""run() and the SFTP helpers against a real sshd (the head) and a compute reached through it."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from remote import deadlines, files
from remote.errors import CommandTimeout, ConnectionLost, RemoteError
from remote.pool import Pool
from remote.run import run


def test_argv_is_quoted_and_str_is_a_script(pool: Pool) -> None:
    head = pool.head()
    assert run(head, ["printf", "%s|", "a b", "$HOME", "it's"], step="printf").stdout == "a b|$HOME|it's|"
    script = 'for i in 1 2 3; do printf "$i"; done; echo " $((6 * 7))"'
    assert run(head, script, step="script").stdout == "123 42\n"


def test_nonzero_exit_raises_with_stderr_tail(pool: Pool) -> None:
    script = "for i in $(seq 1 50); do echo noise-$i >&2; done; echo 'the real cause' >&2; exit 3"
    with pytest.raises(RemoteError) as caught:
        run(pool.head(), script, node="head", step="build ring")
    err = caught.value
    assert err.node == "head" and err.step == "build ring"
    message = str(err)
    assert "exited with 3" in message and "the real cause" in message
    assert "noise-50" in message and "noise-1\n" not in message  # only the tail
    assert err.hint


def test_check_false_returns_the_exit_code(pool: Pool) -> None:
    result = run(pool.client("compute-0"), "echo out; echo err >&2; exit 7", step="probe", check=False)
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 7)


def test_stdin_and_large_interleaved_output(pool: Pool) -> None:
    text = "".join(f"line {i}\n" for i in range(20000))
    result = run(pool.head(), "cat; head -c 3000000 /dev/zero | tr '\\0' e >&2", step="cat", stdin=text)
    assert result.stdout == text
    assert len(result.stderr) == 3_000_000


def test_a_step_past_its_deadline_names_node_step_and_what_to_do(pool: Pool) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        run(pool.head(), "sleep 30", step="check shared fs", timeout=0.5)
    assert time.monotonic() - started < 15  # long before the command itself would have ended
    assert (caught.value.node, caught.value.step) == ("head", "check shared fs")
    assert caught.value.detail == "no answer within 0.5 s running sleep 30"
    assert "`invoke ssh --node head`" in caught.value.hint and not isinstance(caught.value, ConnectionLost)
    assert run(pool.head(), ["echo", "ok"], step="after").stdout == "ok\n"  # the connection is still usable


def test_a_command_that_closes_its_output_but_runs_on_still_meets_the_deadline(pool: Pool) -> None:
    """The exit status is waited for within the deadline too: EOF on the output is not the command's end."""
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        run(pool.head(), "exec >&- 2>&-; sleep 30", step="hung mount", timeout=1)
    assert time.monotonic() - started < 15


def test_every_command_has_the_default_deadline_unless_its_step_says_another(pool: Pool,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadlines, "DEFAULT", 1.0)
    with pytest.raises(CommandTimeout, match="no answer within 1 s running sleep 30"):
        run(pool.head(), "sleep 30", step="probe")
    assert run(pool.head(), "sleep 1.5; echo done", step="known long", timeout=10).stdout == "done\n"


def test_dropped_connection_is_connection_lost(pool: Pool) -> None:
    head = pool.head()
    threading.Timer(0.5, lambda: head.get_transport().close()).start()
    with pytest.raises(ConnectionLost) as caught:
        run(head, "sleep 5", step="long")
    assert caught.value.node == "head"


def test_put_get_round_trip_and_modes(pool: Pool, tmp_path: Path) -> None:
    remote_dir = tmp_path / "remote" / "a" / "b"
    client = pool.client("compute-1")
    files.mkdir_p(client, str(remote_dir))
    files.mkdir_p(client, str(remote_dir))  # idempotent
    assert remote_dir.is_dir()

    local = tmp_path / "prog.sh"
    local.write_bytes(b"#!/bin/sh\necho \xe2\x9c\x93\n")
    local.chmod(0o750)
    files.put(client, local, f"{remote_dir}/prog.sh")
    assert (remote_dir / "prog.sh").read_bytes() == local.read_bytes()
    assert stat.S_IMODE(os.stat(remote_dir / "prog.sh").st_mode) == 0o750
    files.put(client, local, f"{remote_dir}/prog2.sh", mode=0o644)
    assert stat.S_IMODE(os.stat(remote_dir / "prog2.sh").st_mode) == 0o644

    files.put_text(client, "secret ✓\n", f"{remote_dir}/token")
    assert stat.S_IMODE(os.stat(remote_dir / "token").st_mode) == 0o600
    assert files.get_text(client, f"{remote_dir}/token") == "secret ✓\n"
    files.put_text(client, "replaced\n", f"{remote_dir}/token", mode=0o640)
    assert files.get_text(client, f"{remote_dir}/token") == "replaced\n"
    assert stat.S_IMODE(os.stat(remote_dir / "token").st_mode) == 0o640
    assert not (remote_dir / "token.tmp").exists()
    assert files.exists(client, f"{remote_dir}/token") and not files.exists(client, f"{remote_dir}/nope")


def test_get_files_copies_a_tree_and_names_a_missing_file(pool: Pool, tmp_path: Path) -> None:
    remote = tmp_path / "results"
    (remote / "part").mkdir(parents=True)
    (remote / "part" / "00000").write_bytes(b"a\t1\n")
    (remote / "_SUCCESS").write_bytes(b"")
    local = tmp_path / "here"
    files.get_files(pool.client("compute-0"), str(remote), ["part/00000", "_SUCCESS"], local)
    assert (local / "part" / "00000").read_bytes() == b"a\t1\n" and (local / "_SUCCESS").exists()
    with pytest.raises(RemoteError, match="gone.txt does not exist on compute-0"):
        files.get_files(pool.client("compute-0"), str(remote), ["gone.txt"], local)


def test_get_files_keeps_a_name_with_a_newline_inside_and_refuses_one_that_leaves(pool: Pool, tmp_path: Path) -> None:
    """A result folder named ``q\n..`` is a folder of that name here, and ``../.bashrc`` is refused before any
    file is written: nothing lands beside the output folder."""
    remote = tmp_path / "results"
    (remote / "q\n..").mkdir(parents=True)
    (remote / "q\n.." / ".bashrc").write_bytes(b"echo owned\n")
    (tmp_path / ".bashrc").write_bytes(b"echo owned\n")  # what ../.bashrc names on the node
    local = tmp_path / "here" / "out"
    files.get_files(pool.client("compute-0"), str(remote), ["q\n../.bashrc"], local)
    assert (local / "q\n.." / ".bashrc").read_bytes() == b"echo owned\n"
    with pytest.raises(RemoteError) as refused:
        files.get_files(pool.client("compute-0"), str(remote), ["part-00000", "../.bashrc"], tmp_path / "there")
    assert str(refused.value).startswith(f"[compute-0] download {remote} failed: result '../.bashrc' has an empty, "
                                         "'.' or '..' part")
    assert list((tmp_path / "there").iterdir()) == [] and not (tmp_path / "here" / ".bashrc").exists()


def test_put_files_uploads_a_tree_with_its_modes_over_one_sftp_session(pool: Pool, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "data"
    (local / "part" / "deep").mkdir(parents=True)
    (local / "empty").mkdir()
    (local / "run.sh").write_bytes(b"#!/bin/sh\n")
    (local / "run.sh").chmod(0o750)
    (local / "part" / "deep" / "blob").write_bytes(bytes(range(256)) * 512)
    (local / "part" / "deep" / "blob").chmod(0o600)
    client = pool.client("compute-3")
    sessions = []
    open_sftp = client.open_sftp
    monkeypatch.setattr(client, "open_sftp", lambda: sessions.append(1) or open_sftp())

    remote = tmp_path / "remote" / "not" / "yet" / "data"
    files.put_files(client, local, str(remote))

    assert len(sessions) == 1
    assert sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*")) == [
        "empty", "part", "part/deep", "part/deep/blob", "run.sh"]
    assert (remote / "part" / "deep" / "blob").read_bytes() == bytes(range(256)) * 512
    assert stat.S_IMODE(os.stat(remote / "run.sh").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(remote / "part" / "deep" / "blob").st_mode) == 0o600

    files.put_files(client, local, str(remote), mode=0o644)  # again, into the folders it made: no error
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in remote.rglob("*") if p.is_file()} == {0o644}


def test_put_files_refuses_a_missing_folder_and_a_file_in_the_way(pool: Pool, tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="is not a folder on this machine") as caught:
        files.put_files(pool.head(), tmp_path / "nothing", str(tmp_path / "remote"))
    assert caught.value.node == "head" and caught.value.hint
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sub").mkdir()
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "sub").write_text("a file where the folder goes")
    with pytest.raises(RemoteError, match="sub exists and is not a directory"):
        files.put_files(pool.head(), tmp_path / "data", str(tmp_path / "remote"))


def test_missing_file_has_a_hint(pool: Pool, tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as caught:
        files.get_text(pool.head(), str(tmp_path / "missing.txt"))
    err = caught.value
    assert err.node == "head" and "missing.txt" in str(err) and err.hint


def test_put_into_missing_directory_names_node_and_file(pool: Pool, tmp_path: Path) -> None:
    local = tmp_path / "ring.c"
    local.write_text("int main(void) { return 0; }\n")
    with pytest.raises(RemoteError) as caught:
        files.put(pool.client("compute-2"), local, str(tmp_path / "no" / "such" / "ring.c"))
    assert caught.value.node == "compute-2" and caught.value.step == "upload ring.c"


def test_mkdir_p_over_a_file_fails_clearly(pool: Pool, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(RemoteError) as caught:
        files.mkdir_p(pool.head(), str(tmp_path / "plain" / "sub"))
    assert "not a directory" in str(caught.value)
