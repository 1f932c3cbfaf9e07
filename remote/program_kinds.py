"""What ``run-mpi --program PATH`` names, decided on this machine before anything is uploaded.

A source file by its extension (Python runs with mpi4py; C, C++ and Fortran are compiled with Open MPI's wrapper
for the language), a folder by its build file, and anything else that is already a program (an ELF binary, a
``#!`` script) runs as it is. Anything else is refused at once, naming what is allowed, rather than failing on
the nodes with an ``execve`` error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from remote.errors import BadInput


class Kind(enum.Enum):
    PYTHON = "python"
    C = "c"
    CXX = "c++"
    FORTRAN = "fortran"
    MAKE = "make"
    CMAKE = "cmake"
    EXECUTABLE = "executable"


SOURCE_SUFFIXES = {".py": Kind.PYTHON, ".c": Kind.C, ".cc": Kind.CXX, ".cpp": Kind.CXX, ".cxx": Kind.CXX,
                   ".f90": Kind.FORTRAN}
COMPILERS = {Kind.C: "mpicc", Kind.CXX: "mpicxx", Kind.FORTRAN: "mpif90"}
# make's own order, and a Makefile before CMakeLists.txt (the project's own way to build it, when it has both)
BUILD_FILES = {"GNUmakefile": Kind.MAKE, "makefile": Kind.MAKE, "Makefile": Kind.MAKE, "CMakeLists.txt": Kind.CMAKE}
ALLOWED = ("a .py file (run with mpi4py), a .c, .cc/.cpp/.cxx or .f90 file (compiled with mpicc, mpicxx or mpif90), "
           "a folder with a Makefile or CMakeLists.txt, or an executable (an ELF binary or a #! script)")


@dataclass(frozen=True)
class Program:
    path: Path
    kind: Kind

    @property
    def name(self) -> str:
        """The job's name: the file's stem, or the folder's name."""
        return self.path.name if self.kind in (Kind.MAKE, Kind.CMAKE) else self.path.stem


def classify(path: Path, binary: str | None = None) -> Program:
    """The program at ``path``; ``binary`` (``--binary``) only goes with a folder that is built."""
    if not path.exists():
        raise BadInput(f"--program {path}: no such file or folder")
    program = _kind_of(path)
    if binary is not None and program.kind not in (Kind.MAKE, Kind.CMAKE):
        raise BadInput(f"--binary {binary}: only for a folder with a Makefile or CMakeLists.txt (--program {path} "
                       f"is a {program.kind.value} program)")
    return program


def _kind_of(path: Path) -> Program:
    if path.is_dir():
        for build_file, kind in BUILD_FILES.items():
            if (path / build_file).is_file():
                return Program(path, kind)
        raise BadInput(f"--program {path}: a folder without a Makefile or CMakeLists.txt; allowed: {ALLOWED}")
    kind = SOURCE_SUFFIXES.get(path.suffix)
    if kind is not None:
        return Program(path, kind)
    with path.open("rb") as handle:
        start = handle.read(4)
    if start.startswith((b"\x7fELF", b"#!")):
        return Program(path, Kind.EXECUTABLE)
    what = f"unknown extension {path.suffix!r}" if path.suffix else "neither a source file nor an executable"
    raise BadInput(f"--program {path}: {what}; allowed: {ALLOWED}")
