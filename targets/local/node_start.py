"""Start and stop one node of a local cluster, the same way whoever asks: ``up`` for the always-on nodes, the power
agent (``power_agent``) for an elastic node Slurm wants now or no longer.

Starting builds the node's namespaces and veth, its init, sshd (with the host key ``up`` generated and pinned for
every node the cluster can have), its loop volumes, and starts its boot (the roles, as on a cloud node), without
waiting for it: ``up`` waits over SSH, Slurm waits for the node's slurmd to register. Stopping removes all of it
but the host key and the retained volumes' files.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from components.boot.config import BootConfig, BundleInPlace, MungeKeyFile, StaticNode
from components.boot.storage import storage_vars
from spec.environment import Environment
from spec.outputs import SharedFs, Volume
from targets.local import boot, network, node, volumes
from targets.local.commands import sh
from targets.local.journal import Journal

PROJECT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = PROJECT / "ansible"
POWER_DIR = "power"  # under the environment's folder: the power agent's socket and log
POWER_MOUNT = "/run/chpc-power"  # where the head sees that folder
POWER_CLIENT = "/var/lib/slurm/chpc-power"  # on the head: Slurm's resume and suspend program (power_client.py)
HOST_KEY_DIR = "etc/ssh"  # under a node's private root: kept when the node stops, so its pinned key stays true


@dataclass(frozen=True)
class Cluster:
    """What every node of one local environment starts from; ``up`` makes it, the power agent makes it again from
    the environment's folder (spec, subnet), so both start a node the same way."""

    env: Environment
    root: Path
    subnet: ipaddress.IPv4Network
    tunables: dict[str, object]
    floors: dict[str, int] = field(default_factory=dict)  # partition -> floor, where `invoke scale` moved it

    @property
    def names(self) -> list[str]:
        """Every node the cluster can have, the head first: a node's place here gives its address and veth."""
        return ["head", *self.env.compute_nodes]

    @property
    def always_on(self) -> list[str]:
        return ["head", *(name for p in self.env.slurm_partitions for name in p.node_names()[:p.min])]

    @property
    def elastic(self) -> list[str]:
        """The nodes that start when a job needs them (``up`` builds the others)."""
        return [name for p in self.env.slurm_partitions for name in p.node_names()[p.min:]]

    @property
    def stoppable(self) -> list[str]:
        """The nodes power saving may stop: those above each partition's floor."""
        return [name for p in self.env.slurm_partitions for name in p.node_names()[self.floors.get(p.name, p.min):]]

    def address(self, name: str) -> str:
        return str(self.subnet[10 + self.names.index(name)])

    def hosts(self) -> str:
        return "127.0.0.1 localhost\n" + "".join(f"{self.address(n)} {n}\n" for n in self.names)

    @property
    def munge_key(self) -> Path:
        return self.root / "secrets" / "munge.key"

    def shared(self) -> SharedFs | None:
        if self.env.storage.shared is None:
            return None
        return SharedFs(kind="bind", source=str(self.root / "shared"), mount=self.env.storage.shared.mount)


def start(cluster: Cluster, name: str, journal: Journal, asked_at: float | None = None) -> list[Volume]:
    """Build node ``name`` and start its boot; returns its volumes. Each piece is journaled as it is made.
    ``asked_at``: when Slurm asked for it (its boot clock then says it booted after that, as Slurm checks)."""
    env, node_dir = cluster.env, cluster.root / "nodes" / name
    node.prepare(node_dir, name, cluster.hosts())
    network.create_netns(env.name, name, cluster.names.index(name), cluster.address(name), cluster.subnet.prefixlen)
    binds = [(cluster.root / POWER_DIR, POWER_MOUNT)] if name == "head" and cluster.elastic else []
    journal.inits[name] = node.start(env.name, name, node_dir, keep=[PROJECT, Path(sys.prefix)], binds=binds,
                                     booted_after=asked_at)
    journal.save()
    node.run(journal.inits[name], ["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config"], f"start sshd on {name}")
    attached = _attach_volumes(cluster, name, journal)
    shared = cluster.shared()
    tunables = {**cluster.tunables, **storage_vars([v.model_dump() for v in attached],
                                                     shared.model_dump() if shared else None,
                                                     owner=env.ssh.user or "root", persist=False)}
    boot.start(journal.inits[name], node_dir, BootConfig(
        role="head" if name == "head" else "compute", cluster_name=env.name, head_name="head",
        munge_key=MungeKeyFile(str(cluster.munge_key)), bundle=BundleInPlace(str(ANSIBLE_DIR)),
        head_address=cluster.address("head"),
        compute_nodes=tuple(StaticNode(n, cluster.address(n)) for n in cluster.names[1:]), cloud_instance=False,
        service_manager="direct", install_packages=False, tunables=tunables))
    return attached


def _attach_volumes(cluster: Cluster, name: str, journal: Journal) -> list[Volume]:
    """The node's own loop volume for each volume of the spec; a retained one's file keeps its data."""
    result = []
    for spec_volume in cluster.env.storage.volumes:
        backing = cluster.root / "volumes" / f"{name}-{spec_volume.name}.img"
        journal.volume_files[backing.name] = spec_volume.retain
        journal.save()
        assert spec_volume.size_gb is not None  # the local target has no volume sources: every volume is sized
        device = volumes.attach(backing, spec_volume.size_gb)
        result.append(Volume(name=spec_volume.name, node=name, mount=spec_volume.mount, device=device,
                             fs_type=spec_volume.fs_type, retain=spec_volume.retain))
    return result


def stop(cluster: Cluster, name: str, journal: Journal) -> None:
    """Take node ``name`` down: its processes, veth and namespace, loop devices, and every file of it but its host
    key and its retained volumes'; safe to repeat, and on a node whose start failed half way."""
    node_dir = cluster.root / "nodes" / name
    pid = journal.inits.pop(name, None)
    for init in [*([pid] if pid else []), *node.inits_under(node_dir)]:
        node.kill(init)
    journal.save()
    env_name = cluster.env.name
    veth = network.veth_name(env_name, cluster.names.index(name))
    if Path("/sys/class/net", veth).exists():
        sh(["ip", "link", "del", veth], f"delete veth {veth}", check=False)
    if (network.NETNS_DIR / network.netns_name(env_name, name)).exists():
        sh(["ip", "netns", "del", network.netns_name(env_name, name)], f"delete namespace of {name}", check=False)
    volumes.detach_all(cluster.root, prefix=str((cluster.root / "volumes").resolve() / f"{name}-"))
    for image in (cluster.root / "volumes").glob(f"{name}-*.img"):
        if journal.volume_files.get(image.name) is False:
            image.unlink()
            del journal.volume_files[image.name]
    journal.save()
    if node_dir.exists():
        for child in node_dir.iterdir():
            if child.name != "root":
                child.unlink() if not child.is_dir() else shutil.rmtree(child)
        for child in (node_dir / "root").iterdir():
            if child.name != "etc":
                shutil.rmtree(child)
        for child in (node_dir / "root" / "etc").iterdir():
            if child.name != "ssh":
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def make_power_dir(cluster: Cluster, slurm_gid: int) -> Path:
    """The folder of the power agent's socket: root's and the slurm group's only (Slurm's programs run as slurm)."""
    folder = cluster.root / POWER_DIR
    folder.mkdir(mode=0o750, exist_ok=True)
    os.chown(folder, 0, slurm_gid)
    os.chmod(folder, 0o750)
    return folder
