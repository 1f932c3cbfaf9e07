"""Drive the toolkit as a user does (the invoke CLI in a subprocess) and check what it leaves behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import TypeAdapter

from spec.environment import Name
from spec.outputs import Outputs
from tests.contract import assert_contract

ROOT = Path(__file__).resolve().parents[2]


def run_name(prefix: str) -> str:
    """``prefix`` plus this test run's pid (hex): network namespaces, bridge and veth names and loop devices all
    derive from the environment name, so two runs on one machine at once must not share names, and no two live
    processes share a pid. The spec's own rule checks the result (at most 20 characters)."""
    return TypeAdapter(Name).validate_python(f"{prefix}-{os.getpid():x}")


def invoke(state_dir: Path, *args: str, timeout: float = 600,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The invoke CLI as a user runs it, with the state folder ``state_dir`` (and ``env`` added)."""
    argv, environ = invoke_command(state_dir, *args, env=env)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=environ, cwd=ROOT)


def invoke_command(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of :func:`invoke`, for a test that reads the output while it comes."""
    environ = {**os.environ, "CHPC_STATE_DIR": str(state_dir), "COLUMNS": "200", **(env or {})}
    return [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks", *args], environ


def job_id_of(result: subprocess.CompletedProcess[str]) -> int:
    """The job id `run-mpi` says it submitted."""
    match = re.search(r"^submitted job (\d+): ", result.stdout, re.M)
    assert match, result.stdout + result.stderr
    return int(match.group(1))


def host_path(state_dir: Path, cluster: Outputs, path: str) -> Path:
    """Where a path under the nodes' /shared lies on this machine (the shared folder is bound from the state)."""
    return state_dir / cluster.name / "shared" / Path(path).relative_to("/shared")


@contextmanager
def taken_down_if_failing(state_dir: Path, name: str) -> Iterator[None]:
    """A failing test leaves no cluster behind."""
    try:
        yield
    except BaseException:
        invoke(state_dir, "destroy", "--name", name)
        raise


def write_spec(path: Path, name: str, *, compute: int = 2, retain: bool = False, size_gb: int = 1,
               spark: bool = False) -> Path:
    path.write_text(json.dumps({
        "name": name, "target": "local", "compute": {"count": compute},
        "storage": {"volumes": [{"name": "scratch", "size_gb": size_gb, "mount": "/scratch", "retain": retain}],
                    "shared": {"kind": "local", "mount": "/shared"}},
        **({"spark": {}} if spark else {}),
    }))
    return path


@contextmanager
def environment(state_dir: Path, spec: Path, name: str) -> Iterator[Outputs]:
    """`invoke up --spec` then its contract; `invoke destroy` at the end, checked to leave nothing behind."""
    namespaces: set[str] = set()
    try:
        up = invoke(state_dir, "up", "--spec", str(spec))
        assert up.returncode == 0, up.stdout + up.stderr
        namespaces = pid_namespaces(state_dir, name)
        yield assert_contract(Outputs.load(state_dir / name / "outputs.json"))
    finally:
        gone = invoke(state_dir, "destroy", "--name", name)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert leftovers(state_dir, name, namespaces) == []


def pid_namespaces(state_dir: Path, name: str) -> set[str]:
    """The PID namespaces of the environment's nodes (read from their inits, while they live)."""
    journal = json.loads((state_dir / name / "journal.json").read_text())
    return {os.readlink(f"/proc/{pid}/ns/pid") for pid in journal["inits"].values()}


def journal_inits(journal: Path) -> dict[str, int]:
    """The node inits an `up` has journaled so far (none while the file is not there yet)."""
    try:
        return json.loads(journal.read_text()).get("inits", {})
    except (OSError, ValueError):
        return {}


def leftovers(state_dir: Path, name: str, namespaces: set[str]) -> list[str]:
    """Everything of environment ``name`` still on the machine: must be empty after destroy."""
    found = []
    netns = Path("/run/netns")
    found += [f"netns {p.name}" for p in netns.glob(f"chpc-{name}-*")] if netns.exists() else []
    links = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    from targets.local.host_filter import table_name
    from targets.local.network import bridge_name, short_id

    found += [f"link {link['ifname']}" for link in json.loads(links)
              if link["ifname"].startswith(f"ch{short_id(name)}") or link["ifname"] == bridge_name(name)]
    env_dir = str(state_dir / name)
    found += [f"mount {line.split()[1]}" for line in Path("/proc/mounts").read_text().splitlines()
              if env_dir in line]
    loops = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True, text=True).stdout
    found += [f"loop {line}" for line in loops.splitlines() if env_dir in line]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    found += [f"nftables {line}" for line in tables.splitlines() if line.split()[-1:] == [table_name(name)]]
    agent = f"targets.local.power_agent\0{env_dir}\0".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                if os.readlink(proc / "ns" / "pid") in namespaces or agent in cmdline + b"\0":
                    found.append(f"process {proc.name} {cmdline[:60]!r}")
            except OSError:
                continue
    return found
