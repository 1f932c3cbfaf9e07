"""What `invoke status` shows: per node, whether SSH answers, its Slurm state and its mounts."""

from __future__ import annotations

from dataclasses import dataclass

import paramiko

from remote.errors import RemoteError
from remote.fanout import fan_out
from remote.mounts import mount_status
from remote.pool import Pool
from remote.run import run

# What the last character of a Slurm state (sinfo %T) says of the node's power; "*": it does not answer.
POWER_SUFFIXES = {"~": "powered down", "#": "powering up", "%": "powering down", "!": "to power down"}


@dataclass(frozen=True)
class NodeStatus:
    node: str
    partition: str
    address: str
    ssh: str
    slurm: str
    mounts: list[str]


def _in_words(state: str) -> str:
    """Slurm's short power marks in words: ``idle~`` is "idle, powered down"."""
    if state[-1:] in POWER_SUFFIXES:
        return f"{state[:-1]}, {POWER_SUFFIXES[state[-1]]}"
    return state


def slurm_states(pool: Pool) -> dict[str, str]:
    """Node name -> Slurm state, as the controller on the head sees it ("controller" for the head), with Slurm's
    reason for a node it took out of service (``down* (Not responding)``): the user sees why, not only that."""
    result = run(pool.head(), ["sinfo", "-h", "-N", "-o", "%N %T %E"], node=pool.head_name(), step="sinfo",
                 check=False)
    states = {pool.head_name(): "controller" if result.exit_code == 0 else "controller down"}
    for line in result.stdout.splitlines():
        name, _, rest = line.partition(" ")
        state, _, reason = rest.partition(" ")
        states[name] = _in_words(state.lower()) + (f" ({reason})" if reason and reason != "none" else "")
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
    partition_of = {node: p.name for p in outputs.partitions for node in p.nodes}
    # a scaling group's nodes are named by the cloud, not listed: the one partition they can be in
    fleet = outputs.partitions[0].name if len(outputs.partitions) == 1 else "?"
    rows = [NodeStatus(node=n.name, partition=partition_of.get(n.name, "-" if n.name == pool.head_name() else fleet),
                       address=n.address, ssh="unreachable" if n.name in failed else "ok",
                       slurm=states.get(n.name, "unknown"), mounts=found.get(n.name, []))
            for n in outputs.nodes()]
    # the elastic nodes not running now: Slurm says whether they are powered down or on their way
    running = set(names)
    rows += [NodeStatus(node=name, partition=partition_of[name], address="-", ssh="not running",
                        slurm=states.get(name, "unknown"), mounts=[])
             for p in outputs.partitions for name in p.elastic_nodes if name not in running]
    return rows
