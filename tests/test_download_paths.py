"""remote/download_paths.py on a real file system: every destination stays inside the output folder, whatever
the result names say, and a name that is both a file and a folder is named before anything is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from remote.download_paths import UnsafeDownload, open_destination, plan_downloads


def download(root: Path, names: dict[str, bytes]) -> None:
    """What every download does: plan all names, then write each file."""
    for name, destination in plan_downloads(root, list(names)):
        with open_destination(root, destination) as out:
            out.write(names[name])


def everything_under(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def test_nested_names_and_folder_markers_land_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    download(root, {"": b"", "part-00000": b"a\n", "day=1/part-00001": b"b\n", "empty/": b"",
                    "q\n../.bashrc": b"echo\n"})  # "": the output folder's own marker (key output/ in S3)
    assert everything_under(root) == ["day=1", "day=1/part-00001", "part-00000", "q\n..", "q\n../.bashrc"]
    assert (root / "q\n.." / ".bashrc").read_bytes() == b"echo\n"  # a folder whose name holds a newline, inside
    assert everything_under(tmp_path) == ["out", *(f"out/{name}" for name in everything_under(root))]


@pytest.mark.parametrize("name", ["../.bashrc", "a/../../x", "/etc/passwd", "./x", "a//b", "..", "a/./b"])
def test_a_name_that_could_leave_the_root_is_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(UnsafeDownload) as refused:
        download(root, {"part-00000": b"a\n", name: b"evil\n"})
    assert repr(name) in str(refused.value) and "\n" not in str(refused.value)
    assert everything_under(tmp_path) == ["out"]  # not even the safe name before it


@pytest.mark.parametrize("names", [["a", "a/b"], ["a/b/c", "a/b"], ["a", "a/"]])
def test_a_name_that_is_both_a_file_and_a_folder_is_named(tmp_path: Path, names: list[str]) -> None:
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(UnsafeDownload, match=r"^result 'a(/b)?' is both a file and a folder") as refused:
        download(root, dict.fromkeys(names, b"x"))
    assert "\n" not in str(refused.value)
    assert everything_under(root) == []


def test_a_symlink_in_the_output_folder_is_never_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "out", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    (root / "file").symlink_to(outside / "target")
    for name in ("link/x", "file"):
        with pytest.raises(UnsafeDownload, match=r"through the symlink"):
            download(root, {name: b"evil\n"})
    assert everything_under(outside) == []


def test_a_symlink_that_appears_after_the_plan_is_refused_too(tmp_path: Path) -> None:
    root, outside = tmp_path / "out", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    [(_, folder_file), (_, plain)] = plan_downloads(root, ["d/x", "y"])
    (root / "d").symlink_to(outside)
    (root / "y").symlink_to(outside / "y")
    for destination in (folder_file, plain):
        with pytest.raises(UnsafeDownload):
            open_destination(root, destination).close()
    assert everything_under(outside) == []


def test_a_name_this_file_system_cannot_hold_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    for name in (f"{'x' * 300}/part-00000", "y" * 300):
        with pytest.raises(UnsafeDownload, match=r"cannot be a path under .*: File name too long") as refused:
            download(root, {name: b"a\n"})
        assert "\n" not in str(refused.value)
    assert list(root.iterdir()) == []


def test_an_output_folder_that_cannot_be_written_is_one_line_naming_the_result(tmp_path: Path) -> None:
    """A read-only file system (a real one: tmpfs mounted ro, which root cannot write either)."""
    root = tmp_path / "out"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(root)], check=True)
    try:
        for name, said in (("day=1/part-00000", "cannot make the folder"), ("part-00000", "cannot be written to")):
            with pytest.raises(UnsafeDownload, match=rf"^result '{name}': {said} .*: Read-only file system"):
                download(root, {name: b"a\n"})
    finally:
        subprocess.run(["umount", str(root)], check=True)
