"""Put a program in its job folder and make it runnable there: compile a source file, build a project folder.

Builds run on the head, in the job folder on the shared file system, so every node runs the very binary the head
built, with the Open MPI and compilers the mpi role installs on every node. A plain ``make`` gets Open MPI's
wrappers as ``CC``, ``CXX`` and ``FC`` (a Makefile that names its compiler keeps it); CMake gets them too, so a
project that calls ``find_package(MPI)`` and one that does not both build.
"""

from __future__ import annotations

import posixpath
import shlex

import paramiko

from remote import deadlines, files
from remote.errors import BadInput, RemoteError
from remote.program_kinds import COMPILERS, Kind, Program
from remote.run import run, tail
from remote.ssh import node_of

PYTHON = "/usr/bin/python3"  # the nodes' Python, with Debian's python3-mpi4py
BUILD_TAIL = 15  # lines of a failed build's output shown
_MPI_COMPILERS = "CC=mpicc CXX=mpicxx FC=mpif90"
_MARKER = ".build-start"


def stage(client: paramiko.SSHClient, program: Program, job_dir: str, binary: str | None = None) -> list[str]:
    """Upload ``program`` into the folder ``job_dir`` and build it if it needs building; returns what every rank starts.

    Python runs as ``python3 -u -m mpi4py SCRIPT``: unbuffered, so its lines show as they come, and under mpi4py's
    runner, which aborts every rank when one raises (instead of leaving the others waiting forever)."""
    remote = f"{job_dir}/{program.path.name}"
    if program.kind in (Kind.MAKE, Kind.CMAKE):
        files.put_files(client, program.path, remote)
        return [_build(client, program, job_dir, remote, binary)]
    files.put(client, program.path, remote, mode=0o755)
    if program.kind is Kind.PYTHON:
        return [PYTHON, "-u", "-m", "mpi4py", remote]
    if program.kind is Kind.EXECUTABLE:
        return [remote]
    built = f"{job_dir}/{program.name}"
    compiler = COMPILERS[program.kind]
    _step(client, f"compile {program.path.name}", compiler,
          shlex.join([compiler, "-O2", "-o", built, remote]) + " 2>&1")
    return [built]


def _build(client: paramiko.SSHClient, program: Program, job_dir: str, source: str, binary: str | None) -> str:
    """Build the uploaded folder; the path of the executable to run (``binary``, or the only one the build made)."""
    marker = shlex.quote(f"{job_dir}/{_MARKER}")
    jobs = '-j"$(nproc)"'
    if program.kind is Kind.MAKE:
        root = source
        command = f"cd {shlex.quote(source)} && touch {marker} && {_MPI_COMPILERS} make {jobs} 2>&1"
    else:
        root = f"{job_dir}/build"
        command = (f"touch {marker} && {_MPI_COMPILERS} cmake -S {shlex.quote(source)} -B {shlex.quote(root)} "
                   f"-DCMAKE_BUILD_TYPE=Release 2>&1 && cmake --build {shlex.quote(root)} {jobs} 2>&1")
    tool = "make" if program.kind is Kind.MAKE else "cmake"
    _step(client, f"build {program.path.name}", tool, command)
    new, old = _executables(client, root, marker)
    return posixpath.join(root, _choose(program, new, old, binary))


def _step(client: paramiko.SSHClient, step: str, tool: str, command: str) -> None:
    """Run a compile or build command (its errors sent to its output, in order) on the head; on failure, one line
    and its last lines of output."""
    node = node_of(client)
    result = run(client, command, node=node, step=step, check=False, timeout=deadlines.BUILD)
    if result.exit_code != 0:
        shown = tail(result.stdout, BUILD_TAIL) or "(no output)"
        raise RemoteError(node, step, f"{tool} failed (exit {result.exit_code}); its last lines:\n{shown}",
                          "fix what the compiler or the build names, and run again")


def _executables(client: paramiko.SSHClient, root: str, marker: str) -> tuple[list[str], list[str]]:
    """The executable files under ``root`` (CMake's own folders and shared libraries left out), relative to it:
    those the build wrote, and those that were there before it."""
    command = (f"find {shlex.quote(root)} -name CMakeFiles -prune -o -type f -perm -u+x ! -name '*.so' "
               f"! -name '*.so.*' \\( -newer {marker} -printf 'new %P\\n' -o -printf 'old %P\\n' \\)")
    listing = run(client, command, node=node_of(client), step="find the built executable").stdout
    found: dict[str, list[str]] = {"new": [], "old": []}
    for line in listing.splitlines():
        age, _, path = line.partition(" ")
        found.setdefault(age, []).append(path)
    return sorted(found["new"]), sorted(found["old"])


def _choose(program: Program, new: list[str], old: list[str], binary: str | None) -> str:
    if binary is not None:
        everything = new + old
        matches = [path for path in everything if path == binary] or \
                  [path for path in everything if posixpath.basename(path) == binary]
        if len(matches) == 1:
            return matches[0]
        listed = ", ".join(everything) or "none"
        what = "names several" if matches else "names none"
        raise BadInput(f"--binary {binary} {what} of the executables in {program.path.name} after its build "
                       f"({listed}); name one by its path in the build folder")
    if len(new) == 1:
        return new[0]
    if new:
        raise BadInput(f"the build of {program.path.name} made {len(new)} executables ({', '.join(new)}); "
                       "name the one to run with --binary")
    before = f" (executables already there: {', '.join(old)})" if old else ""
    raise BadInput(f"the build of {program.path.name} made no executable{before}; name the one to run with --binary")
