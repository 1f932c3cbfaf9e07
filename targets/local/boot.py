"""A local node's boot, the road cloud nodes take: its boot script (rendered from a ``BootConfig`` like theirs) is
started in the background inside the node, as cloud-init starts it on a cloud instance, and ``up`` waits over SSH
until every node reports it done (``remote.readiness``). A failed boot keeps its log under the state folder's
``failed/``, since the environment's folder goes with the rollback.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from rich.console import Console

from components.boot.config import BootConfig
from components.boot.script import boot_script
from remote.errors import RemoteError
from remote.pool import Pool
from remote.progress import progress
from remote.readiness import BootFailed, BootTimeout, wait_for_boot
from spec.boot_status import BOOT_LOG
from spec.outputs import Outputs
from targets.local import node
from targets.local.commands import LocalError
from targets.state import state_root

TIMEOUT = 600.0
STRATEGY = Path(__file__).with_name("ansible_strategy") / "mitogen_unpinned.py"  # Mitogen's, unpinned
POLL = 0.2  # a local node boots in seconds; a read over the open SFTP session costs next to nothing


def start(init_pid: int, node_dir: Path, config: BootConfig) -> None:
    """Write the node's boot script beside its state and start it, detached, inside the node."""
    script = node_dir / "boot.sh"
    script.write_text(boot_script(config))
    os.chmod(script, 0o700)
    node.run(init_pid, ["sh", "-c", 'setsid -f sh "$0" </dev/null >/dev/null 2>&1', str(script)],
             f"start the boot of {node_dir.name}", env=environment())


def environment() -> dict[str, str]:
    """What the roles run with inside a node: this venv's Python and ansible-playbook (every node sees them), and
    Mitogen's strategy where this venv has it (the local extra): each task then runs in one resident interpreter
    instead of a Python started per module, a third of the CPU a node's start costs when many nodes share a few
    cores. Its CPU pinning off (``ansible_strategy/mitogen_unpinned.py``): it would put every node's playbook on one
    core. Only here, where the roles install no package: Mitogen 0.3 fails ansible-core 2.19's apt module, which
    starts itself again under the system Python (its respawn). Elsewhere Ansible's own strategy runs the same roles."""
    playbook = Path(sys.executable).with_name("ansible-playbook")
    found = {"CHPC_PYTHON": sys.executable, "CHPC_ANSIBLE_PLAYBOOK": str(playbook),
             "PATH": f"{playbook.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    if importlib.util.find_spec("ansible_mitogen") is not None:
        found |= {"ANSIBLE_STRATEGY_PLUGINS": str(STRATEGY.parent), "ANSIBLE_STRATEGY": STRATEGY.stem}
    return found


def wait(outputs: Outputs, names: list[str], nodes_dir: Path, console: Console) -> None:
    """Until every node of ``names`` reports its boot done, showing how far each got; a failed or unfinished
    boot is a LocalError naming the node, the step and the kept log."""
    with progress(console, "booting the nodes (munge, slurm, mpi, storage)") as update, \
            Pool(outputs, retry_auth=True) as pool:
        try:
            wait_for_boot(pool, names, timeout=TIMEOUT, on_progress=lambda now: update(f"booting: {now.line()}"),
                          poll=POLL)
        except BootFailed as err:
            kept = keep_log(outputs.name, nodes_dir / err.node)
            raise LocalError(f"boot of {err.node} failed at '{err.failed_step}': {_fatal(kept)}; "
                             f"full log: {kept}") from err
        except BootTimeout as err:
            kept = [keep_log(outputs.name, nodes_dir / boot.name) for boot in err.unfinished]
            raise LocalError(f"{err.detail}; logs: {', '.join(map(str, kept))}") from err
        except RemoteError as err:
            raise LocalError(f"waiting for the nodes to boot: {err}") from err


def keep_log(env_name: str, node_dir: Path) -> Path:
    """Copy a node's boot log to ``failed/<env>-<node>-boot.log`` under the state folder."""
    kept = state_root() / "failed" / f"{env_name}-{node_dir.name}-boot.log"
    kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = node.private_path(node_dir, BOOT_LOG)
    if log.exists():
        shutil.copy(log, kept)
    else:
        kept.write_text(f"{node_dir.name} wrote no boot log (its boot script did not start)\n")
    return kept


def _fatal(log: Path) -> str:
    """What a boot log says went wrong: Ansible's fatal or error lines, else the last lines before the script's
    own "failed at" line."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if line.strip() and "cloud-hpc-toolkit boot: " not in line]
    fatal = [line for line in lines if line.startswith(("fatal:", "[ERROR]", "ERROR!"))]
    return "; ".join(fatal[-2:] or lines[-2:])[:400] or "(the log says no more)"
