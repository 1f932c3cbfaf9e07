"""What `invoke status` shows: per node, whether SSH answers, its Slurm state and its mounts."""

from __future__ import annotations

from dataclasses import dataclass

import paramiko

from remote.errors import RemoteError
from remote.fanout import fan_out
from remote.mounts import mount_status
from remote.pool import Pool
from remote.run import run


@dataclass(frozen=True)
class NodeStatus:
    node: str
    address: str
    ssh: str
    slurm: str
    mounts: list[str]


def slurm_states(pool: Pool) -> dict[str, str]:
    """Node name -> Slurm state, as the controller on the head sees it ("controller" for the head), with Slurm's
    reason for a node it took out of service (``down* (Not responding)``): the user sees why, not only that."""
    result = run(pool.head(), ["sinfo", "-h", "-N", "-o", "%N %T %E"], node=pool.head_name(), step="sinfo",
                 check=False)
    states = {pool.head_name(): "controller" if result.exit_code == 0 else "controller down"}
    for line in result.stdout.splitlines():
        name, _, rest = line.partition(" ")
        state, _, reason = rest.partition(" ")
        states[name] = state.lower() + (f" ({reason})" if reason and reason != "none" else "")
    return states


def collect(pool: Pool) -> list[NodeStatus]:
    outputs = pool.outputs
    watched = {v.mount for v in outputs.volumes} | ({outputs.shared.mount} if outputs.shared else set())

    def mounts(client: paramiko.SSHClient, name: str) -> list[str]:
        return [f"{e.target} ({e.fstype})" for e in mount_status(client, node=name) if e.target in watched]

    names = [node.name for node in outputs.nodes()]
    try:
        found: dict[str, list[str]] = fan_out(pool, names, mounts, step="status")
        failed: dict[str, BaseException] = {}
    except RemoteError as exc:
        found = getattr(exc, "results", {})
        failed = getattr(exc, "failures", {})
    states = slurm_states(pool) if pool.head_name() not in failed else {}
    return [NodeStatus(node=n.name, address=n.address,
                       ssh="unreachable" if n.name in failed else "ok",
                       slurm=states.get(n.name, "unknown"), mounts=found.get(n.name, []))
            for n in outputs.nodes()]
