"""A new job folder per submit, against a real sshd: two clients that draw the same name never share one."""

from __future__ import annotations

from pathlib import Path

import pytest

from remote import mpi_job
from remote.errors import RemoteError
from remote.pool import Pool


def test_a_name_already_taken_is_drawn_again_and_each_submit_gets_its_own_folder(
        pool: Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = tmp_path / ".chpc" / "jobs"
    names = iter([f"{jobs}/ring-1", f"{jobs}/ring-1", f"{jobs}/ring-2"])  # the second draw meets the first
    monkeypatch.setattr(mpi_job, "job_dir_for", lambda shared, name: next(names))
    first = mpi_job.new_job_dir(pool.head(), str(tmp_path), "ring")
    second = mpi_job.new_job_dir(pool.head(), str(tmp_path), "ring")
    assert (first, second) == (f"{jobs}/ring-1", f"{jobs}/ring-2")
    assert sorted(p.name for p in jobs.iterdir()) == ["ring-1", "ring-2"]


def test_a_folder_that_cannot_be_made_is_one_line_naming_the_shared_mount(pool: Pool, tmp_path: Path) -> None:
    (tmp_path / ".chpc").write_text("a file where the jobs' folder belongs\n")
    with pytest.raises(RemoteError) as caught:
        mpi_job.new_job_dir(pool.head(), str(tmp_path), "ring")
    message = str(caught.value)
    assert f"no new folder could be made under {tmp_path}/.chpc/jobs in {mpi_job.JOB_DIR_TRIES} tries" in message
    assert "Not a directory" in message and f"check that {tmp_path} is mounted" in message
