"""How long a remote command may run before the task gives up on it: every command has a deadline.

A node whose file system hangs (a hard NFS mount whose server went away blocks every process that touches it,
in the kernel, where no signal reaches it) would otherwise hold a task such as `run-mpi` forever, saying
nothing. Most commands answer in well under a second (a stat, sbatch, scontrol, a listing): ``DEFAULT`` is
far above that, even on a loaded node. The steps known to take long get their own values here, so what each
waits for is read in one place.
"""

from __future__ import annotations

DEFAULT = 120.0  # s: any command not named below
MOUNT = 300.0  # mount.sh on a node: formatting a new volume (mkfs) comes first on the first mount
STATUS_CONNECT = 10.0  # s: `status` shows a node whose sshd does not answer by then as unreachable (not booting)
ROLE = 600.0  # s: one of the toolkit's roles run again on a node (ansible-playbook --tags; a daemon's restart)
BUILD = 3600.0  # compiling a program or building a project (make, cmake --build) on the head


def hung(node: str) -> str:
    """What to do about a command that passed its deadline: the one hint every such error gives."""
    return (f"the command may still be running on {node}: the node is overloaded or a file system on it hangs (a "
            f"hard NFS mount whose server is gone); look with `invoke ssh --node {node}` (`findmnt`, `dmesg`, "
            "`invoke mount`), then run the task again")
