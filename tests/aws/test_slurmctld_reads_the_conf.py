"""The AWS head's slurm.conf, rendered from its user data's variables, read by Debian's real slurmctld 22.05 in
namespaces of its own (network, mount, hostname): every node of every partition declared CLOUD without an address
is there, powered down, the GPU partition's with its GPUs as a generic resource, and `scontrol update
State=POWER_UP` of a partition's always-on nodes, as the slurm role runs it at boot, hands exactly those nodes to the
ResumeProgram (a recording script here, ec2_power.py on EC2).

Only paths the test cannot use on this machine are changed (state, pid and log files, the power programs, SlurmUser
root, no cgroup plugins); the node, partition and power lines are the role's."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from spec import environment as spec
from tests.aws.mocks import RecordingMocks
from tests.aws.test_slurm_cluster import build, cluster_mocks, two_partitions, user_data  # noqa: F401  (a fixture)
from tests.boot.documents import boot_of, parsed, variables_of
from tests.root import need_root
from tests.slurm_conf import render_slurm_conf

pytestmark = pytest.mark.local_cluster
HEAD_ADDRESS = "10.99.0.1"  # on a veth inside the test's own network namespace
RUN = """set -eu
cleanup() {{ for pid in {d}/ctld.pid {d}/munged.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done; }}
trap cleanup EXIT
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add {address}/24 dev v0
ip link set v1 up
ip link set v0 up
hostname hpc-head
mkdir -p /run/munge
mount --bind {d}/munge /run/munge
printf '{address} hpc-head\\n' > {d}/hosts
mount --bind {d}/hosts /etc/hosts
munged --force --key-file={d}/munge.key --pid-file={d}/munged.pid --log-file={d}/munged.log --seed-file={d}/seed
export SLURM_CONF={d}/slurm.conf
slurmctld -i
tries=0
until sinfo -h >/dev/null 2>&1; do tries=$((tries + 1)); [ "$tries" -lt 60 ] || exit 3; sleep 0.5; done
sinfo -h -o '%P %D %t %N %G' > {d}/sinfo.txt
scontrol update NodeName={up} State=POWER_UP
tries=0
until [ -s {d}/calls.log ]; do tries=$((tries + 1)); [ "$tries" -lt 60 ] || exit 4; sleep 0.5; done
"""


def test_slurmctld_takes_the_cloud_nodes_and_powers_up_the_always_on_ones(cluster_mocks: RecordingMocks,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    need_root("slurmctld in namespaces", "/usr/sbin/slurmctld")
    build(partitions=(*two_partitions(), spec.Partition(name="gpu", instance_type="g4dn.12xlarge", max=4, gpus=4)))
    sinfo, calls = run_slurmctld(tmp_path, variables_of(boot_of(parsed(user_data(cluster_mocks)["hpc-head"]))))
    assert sinfo == ["cpu* 100 idle~ cpu-[0-99] (null)", "efa 8 idle~ efa-[0-7] (null)",
                     "gpu 4 idle~ gpu-[0-3] gpu:t4:4"]
    assert calls == "resume efa-[0-1]\n"


def run_slurmctld(d: Path, variables: dict[str, Any]) -> tuple[list[str], str]:
    """slurmctld run in namespaces of its own on the slurm.conf the role renders from a head's ``variables``, its
    ``scontrol update State=POWER_UP`` of the always-on nodes: ``sinfo``'s lines, and what the power programs got."""
    conf = render_slurm_conf(d, {**variables, "head_name": "hpc-head", "head_address": HEAD_ADDRESS})
    assert "SuspendTimeout=120" in conf.splitlines()  # a terminating instance's minute or two, not the local 5 s
    for line, here in (("StateSaveLocation=/var/lib/slurm/slurmctld", f"StateSaveLocation={d}/state"),
                       ("SlurmctldPidFile=/run/slurmctld.pid", f"SlurmctldPidFile={d}/ctld.pid"),
                       ("SlurmctldLogFile=/var/log/slurm/slurmctld.log", f"SlurmctldLogFile={d}/ctld.log"),
                       ("SlurmUser=slurm", "SlurmUser=root"),
                       ("ProctrackType=proctrack/cgroup", "ProctrackType=proctrack/linuxproc"),
                       ("TaskPlugin=task/cgroup,task/affinity", "TaskPlugin=task/none"),
                       ("/var/lib/slurm/power/", f"{d}/")):
        assert line in conf
        conf = conf.replace(line, here)
    (d / "slurm.conf").write_text(conf)
    for program in ("resume", "suspend"):
        (d / program).write_text(f"#!/bin/sh\necho {program} \"$*\" >> {d}/calls.log\n")
        (d / program).chmod(0o755)
    (d / "state").mkdir()
    (d / "munge").mkdir()
    (d / "munge.key").write_bytes(b"k" * 1024)
    (d / "munge.key").chmod(0o600)
    (d / "run.sh").write_text(RUN.format(d=d, address=HEAD_ADDRESS, up=",".join(variables["slurm_power_up_nodes"])))
    namespaces = ["unshare", "--net", "--mount", "--uts", "--propagation", "private"]
    result = subprocess.run([*namespaces, "sh", str(d / "run.sh")], capture_output=True, text=True, timeout=120,
                            check=False)
    log = (d / "ctld.log").read_text() if (d / "ctld.log").exists() else ""
    assert result.returncode == 0, (result.stderr[-2000:], log[-2000:])
    assert "fatal" not in log
    return (d / "sinfo.txt").read_text().splitlines(), (d / "calls.log").read_text()
