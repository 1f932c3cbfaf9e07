"""Bring a local environment up and take it down.

``up`` builds, in order: bridge, one node per namespace set, sshd with a fresh host key, loop
volumes, then starts inside every node, in the background, the boot script cloud nodes run (rendered from the
same ``BootConfig``, the cloud-only steps off; it mounts the node's volumes and the shared folder), waits over
SSH until each reports its boot done (the same ``remote.readiness`` as on the clouds), and waits until Slurm
reports every compute node idle. Any failure takes down what was built.
Before the bridge exists, a host filter (``host_filter``) keeps every user of this machine but root off it.
"""

from __future__ import annotations

import grp
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.text import Text

from remote.progress import progress
from spec.environment import Environment
from spec.outputs import ComputeMachine, Node, Outputs, SlurmPartition, SparkCluster
from targets.backend import Record
from targets.errors import Interrupted, TargetError
from targets.local import boot, host_filter, keys, network, node, node_start, power_agent, volumes
from targets.local.backend import BACKEND
from targets.local.commands import LocalError
from targets.local.journal import Journal
from targets.local.uninterrupted import sigint_ignored
from targets.state import (
    JOURNAL,
    LOCK,
    destroy_remedy,
    env_dir,
    make_env_dir,
    outputs_path,
    read_state,
    read_typed,
    state_root,
    write_state,
)

PROJECT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = PROJECT / "ansible"
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "losetup", "mount", "ssh-keygen", "/usr/sbin/sshd",
                  "/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "mpicc", "mpirun", "nft")
SPARK_MASTER_PORT = 7077
SPARK_WEBUI_PORT = 8080
SPEC = "spec.json"  # the spec an environment was built from: a second `up` of its name must ask for the same


def check_machine() -> None:
    """The local target needs Linux, root and the cluster packages: say which is missing in one line."""
    if sys.platform != "linux":
        raise LocalError("the local target needs Linux (namespaces); use --target aws or azure here")
    if os.geteuid() != 0:
        raise LocalError("the local target needs root (namespaces, loop devices); run it with sudo")
    hidden = hidden_in_nodes(state_root())
    if hidden:
        raise LocalError(f"CHPC_STATE_DIR={state_root()} lies under {hidden}, which every node mounts "
                         "privately; choose a folder elsewhere (the default is /var/lib/cloud-hpc-toolkit)")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        raise LocalError(f"missing {', '.join(missing)}: run `make setup` to install the cluster packages")


def hidden_in_nodes(folder: Path) -> str | None:
    """The folder each node mounts privately that ``folder`` lies under, if any: the nodes read the state folder
    (munge key, shared folder, power socket) at the path this machine has it."""
    return next((p for p in (*node.PRIVATE_DIRS, "/run") if folder.resolve().is_relative_to(p)), None)


def up(env: Environment, console: Console) -> Outputs:
    """Build the environment, or return it as it is when it is already up and healthy."""
    check_machine()
    if outputs_path(env.name).exists():
        saved = BACKEND.contract(Record(name=env.name, target="local"), console)  # one line when unreadable
        journal = Journal.load(env.name)
        if journal.inits and all(node.alive(pid) for pid in journal.inits.values()):
            _require_same_spec(env)
            if journal.agent and not power_agent.running(env_dir(env.name), journal.agent):
                journal.agent = power_agent.start(env.name)  # elastic nodes need it: it died, start it again
                journal.save()
                console.print(f"environment {env.name!r}: its power agent had stopped; started it again")
            console.print(f"environment {env.name!r} is already up", style="green")
            return saved
        console.print(f"environment {env.name!r} is partly gone: taking down what is left, then building")
        destroy(env.name, console, keep_lock=True)
    elif (env_dir(env.name) / JOURNAL).exists():  # the environment's lock is ours: no other `up` is writing it
        console.print(f"an earlier `up` of {env.name!r} did not finish: taking down what it left, then building")
        destroy(env.name, console, keep_lock=True)
    try:
        return _build(env, console)
    except BaseException as exc:
        with sigint_ignored():  # first of all: a second Ctrl-C must not stop the rollback half way
            _roll_back(env, console, interrupted=isinstance(exc, KeyboardInterrupt))
        raise


def _roll_back(env: Environment, console: Console, *, interrupted: bool) -> None:
    """Take down what a failed or interrupted ``up`` built; an interrupted one then ends in one line saying so."""
    name = env.name
    console.print(f"up {'interrupted' if interrupted else 'failed'}: rolling back environment {name!r}", style="red")
    try:
        destroy(name, console)
    except Exception as exc:
        raise LocalError(f"up of {name!r} {'interrupted' if interrupted else 'failed'} and its rollback failed: {exc}; "
                         f"run `invoke destroy --name {name}`") from exc
    if interrupted:
        kept = [volume.name for volume in env.storage.volumes if volume.retain]
        raise Interrupted(f"up of {name!r} interrupted (Ctrl-C): rolled back, nothing of it is left" +
                          (f" but its retained volumes ({', '.join(kept)})" if kept else "")) from None


def _require_same_spec(env: Environment) -> None:
    """An environment that is up is not silently taken for a different one (no resize in place)."""
    saved = read_state(env_dir(env.name) / SPEC, destroy_remedy(env.name))
    changes = _differences(saved, json.loads(env.model_dump_json()))
    if changes:
        raise LocalError(f"environment {env.name!r} is up with a different spec ({'; '.join(changes[:3])}): "
                         f"run `invoke destroy --name {env.name}` first, or give the new one another name")


def _differences(old: object, new: object, at: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new))
                for d in _differences(old.get(key), new.get(key), f"{at}.{key}" if at else key)]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for index, (was, now) in enumerate(zip(old, new, strict=True))
                for d in _differences(was, now, f"{at}[{index}]")]
    return [] if old == new else [f"{at or 'spec'}: {old!r} -> {new!r}"]


def _build(env: Environment, console: Console) -> Outputs:
    root = make_env_dir(env.name)
    journal = Journal(name=env.name, retained=[v.name for v in env.storage.volumes if v.retain])
    journal.save()
    write_state(root / SPEC, json.loads(env.model_dump_json()))
    started = time.monotonic()

    subnet = network.choose_subnet(env.name)
    journal.subnet = str(subnet)
    journal.save()
    host_filter.allow_only_root(env.name)
    network.create_bridge(env.name, subnet)
    console.print(Text.assemble(("network", "bold"), f" bridge {network.bridge_name(env.name)} {subnet}"))

    private_key, public_key = _user_key(env, root)
    cluster = cluster_of(env, root, subnet)
    # every node the cluster can have gets its host key now, so that the contract pins the key of a node that
    # starts later
    host_keys = {}
    for name in cluster.names:
        node.prepare(root / "nodes" / name, name, cluster.hosts())
        host_keys[name] = _sshd_files(root / "nodes" / name, name, public_key, env.ssh.user, cluster.address(name))
    keys.munge_key(cluster.munge_key)
    if env.storage.shared:
        (root / "shared").mkdir(exist_ok=True)
    if cluster.elastic:
        node_start.make_power_dir(cluster, grp.getgrnam("slurm").gr_gid)
        _power_client(root / "nodes" / "head")

    # the nodes' boot makes the mount points, on this machine's file system: destroy removes those it made
    mount_points = [v.mount for v in env.storage.volumes]
    if env.storage.shared:
        mount_points.append(env.storage.shared.mount)
    journal.created_dirs = [p for p in mount_points if not Path(p).exists()]
    journal.save()
    volume_list = []
    for name in cluster.always_on:
        volume_list += node_start.start(cluster, name, journal)
    console.print(Text.assemble(("nodes", "bold"), f" {', '.join(cluster.always_on)} (sshd up, host keys pinned)"
                                + (f"; {len(cluster.elastic)} more start when jobs need them" if cluster.elastic
                                   else "")))

    outputs = Outputs(
        target="local", name=env.name, ssh_user=env.ssh.user, ssh_private_key=str(private_key),
        head=Node(name="head", address=cluster.address("head"), host_key=host_keys["head"]),
        computes=[Node(name=n, address=cluster.address(n), host_key=host_keys[n]) for n in cluster.names[1:]],
        volumes=volume_list, shared=cluster.shared(),
        partitions=[SlurmPartition(name=p.name, instance_type=p.instance_type or "local", min=p.min, max=p.max,
                                   nodes=p.node_names()) for p in env.slurm_partitions],
        # a veth on this machine's bridge: plain TCP, whatever the spec's networking says
        compute_machine=ComputeMachine(instance_type=env.slurm_partitions[0].instance_type or "local",
                                       networking="none"),
        spark=SparkCluster(provider="local", master=f"spark://{cluster.address('head')}:{SPARK_MASTER_PORT}")
        if env.spark else None,
    )
    boot.wait(outputs, cluster.always_on, root / "nodes", console)
    console.print(Text.assemble(("booted", "bold"), f" {len(cluster.always_on)} nodes with ansible/site.yml "
                                "(volumes and shared folder mounted)"))
    _wait_for_slurm(journal.inits["head"], len(cluster.always_on) - 1, console)
    if env.spark:
        _wait_for_spark(env.name, root, cluster.always_on, journal.inits["head"], cluster.address("head"), console)
    if cluster.elastic:
        journal.agent = power_agent.start(env.name)
        journal.save()
    outputs.save(outputs_path(env.name))
    console.print(Text.assemble(("up", "green"), f" {env.name}: 1 head + {len(cluster.always_on) - 1} compute "
                                f"nodes in {time.monotonic() - started:.1f} s; head at {cluster.address('head')}"))
    return outputs


def cluster_of(env: Environment, root: Path, subnet: ipaddress.IPv4Network,
               floors: Mapping[str, int] | None = None) -> node_start.Cluster:
    """What every node of ``env`` starts from (``up``, the power agent and `invoke scale` alike); ``floors``: the
    partitions' floors `invoke scale` set."""
    tunables = {**boot_tunables(env), **_spark_secret(env, root), **power_vars(env, floors)}
    return node_start.Cluster(env=env, root=root, subnet=subnet, tunables=tunables, floors=dict(floors or {}))


def _power_client(head_dir: Path) -> None:
    """Slurm's resume and suspend program, on the head where the slurm role's wrappers call it."""
    target = node.private_path(head_dir, node_start.POWER_CLIENT)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("power_client.py"), target)
    os.chmod(target, 0o755)


# Slurm's SuspendTimeout: a stop takes a second or two here, and the power agent does a start asked meanwhile
# only after it, so a stopped node may start again soon (the role's default, 30 s, fits a cloud instance).
SUSPEND_TIMEOUT = 5
# Slurm's job credential lifetime, which is also how long a requeued job waits before it may start again (Slurm's
# default 120 s): a job whose node failed to start here runs on the others half a minute later, not two.
CRED_EXPIRE = 30


def power_vars(env: Environment, floors: Mapping[str, int] | None = None) -> dict[str, object]:
    """The slurm role's partitions, and its power saving when some nodes start and stop with the work: the nodes
    above each partition's ``min`` are cloud nodes (powered down after ``up``), and those below its floor (its
    ``min``, or what `invoke scale` made it since) are never stopped."""
    partitions = [{"name": p.name, "nodes": p.node_names()} for p in env.slurm_partitions]
    cloud = [name for p in env.slurm_partitions for name in p.node_names()[p.min:]]
    if not cloud:
        return {"slurm_partitions": partitions}
    floor = floors or {}
    always_on = [name for p in env.slurm_partitions for name in p.node_names()[:floor.get(p.name, p.min)]]
    program = f"/usr/bin/python3 {node_start.POWER_CLIENT} --socket {node_start.POWER_MOUNT}/{power_agent.SOCKET}"
    return {"slurm_partitions": partitions, "slurm_cloud_nodes": cloud, "slurm_always_on": always_on,
            "slurm_resume_command": f"{program} start", "slurm_suspend_command": f"{program} stop",
            "slurm_suspend_timeout": SUSPEND_TIMEOUT, "slurm_cred_expire": CRED_EXPIRE, **env.scaling.slurm_vars()}


def _user_key(env: Environment, root: Path) -> tuple[Path, str]:
    """The user's key: the one the spec names, or one generated for this environment."""
    if env.ssh.public_key:
        public = Path(env.ssh.public_key).expanduser()
        private = Path(env.ssh.private_key or str(public).removesuffix(".pub")).expanduser()
        if not public.exists() or not private.exists():
            raise LocalError(f"ssh.public_key: {public} or its private key {private} does not exist")
        return private, " ".join(public.read_text().split()[:2])
    private = root / "ssh" / "id_ed25519"
    return private, keys.ssh_keypair(private, f"cloud-hpc-toolkit {env.name}")


def _sshd_files(node_dir: Path, name: str, public_key: str, user: str, address: str) -> str:
    """Host key, authorized key and sshd_config of a node; returns the host key to pin."""
    etc_ssh = node.private_path(node_dir, "/etc/ssh")
    host_key = keys.ssh_keypair(etc_ssh / "ssh_host_ed25519_key", f"root@{name}")
    authorized = etc_ssh / "authorized_keys"
    authorized.mkdir(mode=0o755, exist_ok=True)
    (authorized / user).write_text(public_key + "\n")
    os.chmod(authorized / user, 0o644)
    (etc_ssh / "sshd_config").write_text(
        "# Written by the cloud-hpc-toolkit local target.\n"
        f"ListenAddress {address}\nPort 22\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "AuthorizedKeysFile /etc/ssh/authorized_keys/%u\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nAllowTcpForwarding yes\nX11Forwarding no\nPidFile /run/sshd.pid\n"
        "MaxStartups 64:30:256\nSubsystem sftp internal-sftp\n"
    )
    return host_key


def boot_tunables(env: Environment) -> dict[str, object]:
    """What the roles need beyond their defaults to run inside this machine's namespaces."""
    return {
        "slurm_cpus": max(2, os.cpu_count() or 2), "slurm_config_overrides": True,
        "slurm_proctrack": "proctrack/linuxproc", "slurm_task_plugin": "task/none",
        "slurm_cgroup_plugin": "cgroup/v1", "slurm_cgroup_automount": False,
        "mpi_interface": "eth0",  # no default route inside the nodes
        "mpi_cloud": "local", "mpi_networking": "none",  # a veth on a bridge: Open MPI over TCP (the mpi role)
        "mpi_nodes_per_machine": len(env.compute_nodes) + 1,  # every node runs on this machine's cores (the mpi role)
        **_spark_vars(env),
    }


def _spark_secret(env: Environment, root: Path) -> dict[str, object]:
    """The Spark cluster's shared secret, generated at ``up`` into the environment's folder (0600), which the
    spark role reads on every node: the master then refuses any application that does not know it."""
    if env.spark is None:
        return {}
    path = root / "secrets" / "spark.secret"
    keys.spark_secret(path)
    return {"spark_auth_secret_file": str(path)}


def _spark_vars(env: Environment) -> dict[str, object]:
    """The spark role's variables: Spark is this venv's pyspark, which every node sees at the same path."""
    if env.spark is None:
        return {"spark_enabled": False}
    pyspark = importlib.util.find_spec("pyspark")
    if pyspark is None or pyspark.origin is None:
        raise LocalError("spark: pyspark is not installed in this venv; run `make setup` (it installs .[local])")
    java = shutil.which("java")
    java_home = os.environ.get("JAVA_HOME") or (str(Path(java).resolve().parents[1]) if java else None)
    if java_home is None:
        raise LocalError("spark: no Java (neither JAVA_HOME nor java on PATH); run `make setup` (a JRE 17)")
    return {"spark_enabled": True, "spark_home": str(Path(pyspark.origin).parent), "spark_java_home": java_home,
            "spark_python": sys.executable, "spark_master_port": SPARK_MASTER_PORT,
            "spark_master_webui_port": SPARK_WEBUI_PORT,
            "spark_conf_dir": "/run/spark/conf"}  # /etc/spark would be this machine's own, not the node's


def _wait_for_spark(name: str, root: Path, names: list[str], head_pid: int, head_address: str, console: Console,
                    timeout: float = 120) -> None:
    """Until the master's JSON lists every compute node's worker ALIVE (asked from inside the head)."""
    url = f"http://{head_address}:{SPARK_WEBUI_PORT}/json/"
    ask = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
    deadline = time.monotonic() + timeout
    alive = 0
    with progress(console, "waiting for the Spark workers to register with the master"):
        while time.monotonic() < deadline:
            proc = node.run(head_pid, [sys.executable, "-c", ask, url], "ask the Spark master", check=False)
            if proc.returncode == 0:
                workers = json.loads(proc.stdout).get("workers", [])
                alive = sum(1 for worker in workers if worker.get("state") == "ALIVE")
                if alive >= len(names) - 1:
                    return
            time.sleep(1)
    kept = state_root() / "failed"
    kept.mkdir(parents=True, exist_ok=True)
    logs = []
    for node_name in names:  # the environment folder goes with the rollback: keep the logs
        log = node.private_path(root / "nodes" / node_name, "/var/log") / "spark"
        for source in log.glob("*.log"):
            logs.append(kept / f"{name}-{node_name}-spark-{source.name}")
            shutil.copy(source, logs[-1])
    raise LocalError(f"spark: {alive} of {len(names) - 1} workers registered with the master after {timeout:.0f} s; "
                     f"logs: {', '.join(map(str, logs)) or 'none written (see the boot logs)'}")


def _wait_for_slurm(head_pid: int, count: int, console: Console, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    states = ""
    with progress(console, "waiting for Slurm compute nodes to register"):
        while time.monotonic() < deadline:
            proc = node.run(head_pid, ["sinfo", "-h", "-N", "-o", "%N %t"], "sinfo", check=False)
            states = proc.stdout.strip()
            idle = [line for line in states.splitlines() if line.split()[-1] in ("idle", "mix", "alloc")]
            if len(idle) == count:
                return
            time.sleep(0.5)
    raise LocalError(f"slurm: compute nodes not idle after {timeout:.0f} s (sinfo: {states!r}); "
                     "see /var/log/slurm/*.log under the nodes' state folders")


def destroy(name: str, console: Console, *, keep_lock: bool = False) -> None:
    """Stop every process, then remove mounts, loop devices, namespaces, bridge and files.

    Retained volumes keep their backing files (``volumes/<node>-<name>.img``) for the next ``up``. A journal this
    version cannot read does not stop it: nodes, loop devices, namespaces and bridge are found from the names they
    derive from the environment's, and the spec it was built from says which volume files were retained.
    ``keep_lock`` keeps the folder and its lock file, for an ``up`` that builds again under the lock it holds.
    """
    root = env_dir(name)
    try:
        journal = Journal.load(name)
    except TargetError as exc:
        files = _volume_files_by_spec(root)
        kept = sorted(image for image, retain in files.items() if retain)
        console.print(f"{exc}: taking down what the environment's names find" + (
            f", keeping volume files (retained, or not named by its spec): {', '.join(kept)}" if kept else ""),
            markup=False, highlight=False)
        journal = Journal(name=name, volume_files=files)
    power_agent.stop(root, journal.agent)  # first: it must start no node while the others go
    journal = _reloaded(journal)  # with the nodes the agent started meanwhile
    for pid in [*journal.inits.values(), *node.inits_under(root / "nodes")]:
        node.kill(pid)
    volumes.detach_all(root)
    network.remove_all(name)
    host_filter.remove(name)
    busy = _mount_points_of_other_nodes()
    for path in journal.created_dirs:
        # Removing a folder that is a mount point in another environment's node would silently unmount it there
        # (the kernel detaches mounts on a removed folder in every namespace): leave it to the last one up.
        if path not in busy:
            try:
                Path(path).rmdir()
            except OSError:
                pass
    if root.exists():
        for child in root.iterdir():
            if child.name == "volumes":
                for image in child.glob("*.img"):
                    if journal.volume_files.get(image.name) is False:
                        image.unlink()
            elif child.name == LOCK:
                continue  # held by this destroy: it goes with the folder
            elif child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        if not keep_lock and not any(root.rglob("*.img")):
            shutil.rmtree(root)
    console.print(Text.assemble(("destroyed", "green"), f" {name}" + (
        f" (kept retained volumes: {', '.join(journal.retained)})" if journal.retained else "")))


def saved_spec(root: Path, remedy: str = "") -> Environment:
    """The spec the environment in ``root`` was built from (what the power agent, `invoke scale` and destroy read)."""
    return read_typed(root / SPEC, remedy, Environment, set(Environment.model_fields))


def _reloaded(journal: Journal) -> Journal:
    """The journal as saved now, or ``journal`` itself when this version cannot read what is saved."""
    try:
        return Journal.load(journal.name)
    except TargetError:
        return journal


def _volume_files_by_spec(root: Path) -> dict[str, bool]:
    """Each volume file under ``root`` and whether to keep it, as the spec the environment was built from says;
    a file it does not name, or every file when it cannot be read either, is kept."""
    found = sorted(image.name for image in root.glob("volumes/*.img"))
    try:
        env = saved_spec(root)
    except TargetError:
        return dict.fromkeys(found, True)
    retain = {f"{node_name}-{volume.name}.img": volume.retain
              for node_name in ["head", *env.compute_nodes] for volume in env.storage.volumes}
    return {image: retain.get(image, True) for image in found}


def _mount_points_of_other_nodes() -> set[str]:
    """Every mount point inside the nodes still running on this machine (any environment, any state folder)."""
    points: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"node_init.py" not in (proc / "cmdline").read_bytes() or not node.is_namespace_init(proc):
                continue
            mountinfo = (proc / "mountinfo").read_text()
        except OSError:
            continue
        for line in mountinfo.splitlines():
            fields = line.split(" ")
            if len(fields) > 4:
                points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points
