"""What run-mpi accepts, decided on this machine before any upload: the Slurm flags' values, the kind of program, a
batch script's own #SBATCH lines; and on the command line, bad input is one line and exit code 2 at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from remote.errors import BadInput
from remote.job_flags import check_partition, check_time, parse_array, parse_env
from remote.program_kinds import Kind, classify
from remote.sbatch_directives import directives
from tests.local.harness import invoke

# -- --env, --array, --time, --partition --------------------------------------------------------------------


def test_env_values_are_kept_exactly() -> None:
    assert parse_env(["A=1", "MSG=it's \"quoted\" $HOME", "EQ=a=b", "EMPTY=", "_x9=  spaced  "]) == {
        "A": "1", "MSG": "it's \"quoted\" $HOME", "EQ": "a=b", "EMPTY": "", "_x9": "  spaced  "}


@pytest.mark.parametrize("item", ["NOVALUE", "=value", "1A=b", "A-B=c", "A B=c", "$A=b"])
def test_a_bad_env_item_is_refused_naming_it(item: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_env(["OK=1", item])
    assert str(caught.value).startswith(f"--env {item!r}: allowed: KEY=VALUE")


@pytest.mark.parametrize(("text", "indices"), [
    ("7", (7,)), ("0-3", (0, 1, 2, 3)), ("1,3,5", (1, 3, 5)), ("0-15:4", (0, 4, 8, 12)), ("0-3%2", (0, 1, 2, 3)),
    ("1-3,7,10-14:2%4", (1, 2, 3, 7, 10, 12, 14)), ("3,1,3", (1, 3)),
])
def test_array_indices_follow_slurms_syntax(text: str, indices: tuple[int, ...]) -> None:
    spec = parse_array(text)
    assert (spec.text, spec.indices) == (text, indices)


@pytest.mark.parametrize("text", ["", "3-1", "1-3%0", "1-3%", "a", "1-", "-1", "1-3:0", "1,,2", "1 2", "1-3%2%2",
                                  "1:2"])
def test_a_bad_array_is_refused(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_array(text)
    assert str(caught.value).startswith(f"--array {text!r}: ")
    assert "e.g. 0-15, 1,3,5, 0-15:4 or 0-15%2" in str(caught.value)


@pytest.mark.parametrize("text", ["10", "10:30", "1:00:00", "2-0", "2-12:30", "2-12:30:15", "UNLIMITED", "INFINITE"])
def test_slurm_time_formats_pass_unchanged(text: str) -> None:
    assert check_time(text) == text


@pytest.mark.parametrize("text", ["", "1:2:3:4", "1h", "-5", "2-", "1-2-3", "unlimited", "10 "])
def test_a_bad_time_is_refused(text: str) -> None:
    with pytest.raises(BadInput, match=r"^--time .*: allowed: Slurm's formats"):
        check_time(text)


def test_partitions() -> None:
    assert check_partition("compute") == "compute" and check_partition("a,b-1.x") == "a,b-1.x"
    for bad in ("", "a b", "a,", "x;rm"):
        with pytest.raises(BadInput, match=r"^--partition "):
            check_partition(bad)


# -- program kinds --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("hello.py", Kind.PYTHON), ("ring.c", Kind.C), ("a.cc", Kind.CXX), ("a.cpp", Kind.CXX), ("a.cxx", Kind.CXX),
    ("heat.f90", Kind.FORTRAN),
])
def test_source_files_by_extension(tmp_path: Path, name: str, kind: Kind) -> None:
    (tmp_path / name).write_text("source\n")
    assert classify(tmp_path / name).kind is kind


def test_folders_by_their_build_file_a_makefile_first(tmp_path: Path) -> None:
    cmake = tmp_path / "cmake-project"
    cmake.mkdir()
    (cmake / "CMakeLists.txt").write_text("project(x C)\n")
    assert classify(cmake, "x").kind is Kind.CMAKE
    assert classify(cmake).name == "cmake-project"
    (cmake / "Makefile").write_text("all:\n")
    assert classify(cmake).kind is Kind.MAKE


def test_executables_whatever_their_name(tmp_path: Path) -> None:
    shutil.copy("/bin/true", tmp_path / "prog")
    (tmp_path / "job.sh").write_text("#!/bin/sh\necho hi\n")  # not even executable here: it is uploaded 0755
    (tmp_path / "tool").write_text("#!/usr/bin/env python3\nprint(1)\n")
    for name in ("prog", "job.sh", "tool"):
        program = classify(tmp_path / name)
        assert (program.kind, program.name) == (Kind.EXECUTABLE, Path(name).stem)


def test_what_cannot_run_is_refused_naming_what_can(tmp_path: Path) -> None:
    (tmp_path / "main.rs").write_text("fn main() {}\n")
    (tmp_path / "notes").write_text("just text\n")
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "ring.c").write_text("int main;\n")
    cases = {
        tmp_path / "main.rs": "unknown extension '.rs'; allowed: a .py file",
        tmp_path / "notes": "neither a source file nor an executable; allowed:",
        tmp_path / "empty-folder": "a folder without a Makefile or CMakeLists.txt; allowed:",
        tmp_path / "missing.c": "no such file or folder",
    }
    for path, said in cases.items():
        with pytest.raises(BadInput) as caught:
            classify(path)
        assert str(caught.value).startswith(f"--program {path}: {said}")
    with pytest.raises(BadInput, match=r"^--binary x: only for a folder with a Makefile or CMakeLists.txt"):
        classify(tmp_path / "ring.c", "x")


# -- a batch script's own #SBATCH lines ---------------------------------------------------------------------------


def test_sbatch_lines_are_read_as_sbatch_reads_them() -> None:
    script = "\n".join([
        "#!/bin/bash",
        "# a comment, then Slurm's lines",
        "#SBATCH --job-name=mine --output out-%j.log   # a trailing comment",
        "",
        "#SBATCH -p debug",
        "#SBATCH -a1-3%2",
        "#SBATCH --ntasks=4 -D /scratch/run",
        "#  SBATCH --error=not-a-directive.log",
        "echo work",
        "#SBATCH --error=after-the-first-command.log",
    ])
    assert directives(script) == {"job-name": "mine", "output": "out-%j.log", "partition": "debug", "array": "1-3%2",
                                  "ntasks": "4", "chdir": "/scratch/run"}
    assert directives("#!/bin/sh\necho hi\n") == {}


# -- on the command line: one line, exit code 2, before any environment is looked for -------------------------------


def test_bad_input_is_one_line_and_exit_2_before_anything_else(tmp_path: Path) -> None:
    (tmp_path / "main.rs").write_text("fn main() {}\n")
    cases = {
        ("--env", "X"): "--env 'X': allowed: KEY=VALUE",
        ("--array", "3-1"): "--array '3-1': '3-1' must count up",
        ("--time", "1:2:3:4"): "--time '1:2:3:4': allowed:",
        ("--partition", "a b"): "--partition 'a b': allowed:",
        ("--args", "'unbalanced"): "--args \"'unbalanced\": No closing quotation",
        ("--program", str(tmp_path / "main.rs")): "unknown extension '.rs'",
        ("--program", str(tmp_path / "none.c")): "no such file or folder",
        ("--sbatch", str(tmp_path / "none.sbatch")): "--sbatch " + str(tmp_path / "none.sbatch") + ": no such file",
        ("--program", "examples/mpi/ring.c", "--sbatch", "examples/slurm/hello_mpi.sbatch"): "not both",
        ("--sbatch", "examples/slurm/hello_mpi.sbatch", "--binary", "x"): "--binary goes with --program FOLDER",
        ("--nodes", "0"): "--nodes '0': allowed: a whole number of at least 1",
    }
    for args, said in cases.items():
        result = invoke(tmp_path / "no-state", "run-mpi", *args)
        shown = (result.stdout + result.stderr).strip()
        assert result.returncode == 2, (args, shown)
        assert said in shown and "\n" not in shown, (args, shown)
    assert not (tmp_path / "no-state").exists()
    job = invoke(tmp_path / "no-state", "job")
    assert (job.returncode, job.stderr.strip()) == (2, "job: give --id N (the job id run-mpi printed)")
