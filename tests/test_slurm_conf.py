"""The slurm.conf the slurm role writes for partitions, rendered by ansible's own template module from the role's
template and defaults with the variables a local environment's nodes boot with: a static partition's nodes as
before, an elastic one's above its min declared State=CLOUD, power saving with the environment's times, and each
partition with its own nodes and feature."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec.environment import Environment
from targets.local.target import boot_tunables, power_vars
from tests.slurm_conf import render_slurm_conf


def rendered(tmp_path: Path, env: Environment) -> list[str]:
    """The role's slurm.conf for ``env``, as its nodes boot with it, without comments."""
    nodes = [{"name": name, "address": f"10.213.0.{11 + index}"} for index, name in enumerate(env.compute_nodes)]
    variables = {"cluster_name": env.name, "head_name": "head", "head_address": "10.213.0.10",
                 "compute_nodes": nodes, **boot_tunables(env), **power_vars(env)}
    text = render_slurm_conf(tmp_path, variables)
    return [line for line in text.splitlines() if not line.startswith("#")]


def spec(**sections: object) -> Environment:
    return Environment.model_validate({"name": "conf", "target": "local", **sections})


def starting(lines: list[str], *prefixes: str) -> list[str]:
    return [line for line in lines if line.startswith(prefixes)]


def test_a_static_cluster_declares_its_nodes_and_no_power_saving(tmp_path: Path) -> None:
    lines = rendered(tmp_path, spec(compute={"count": 2}))
    cpus = f"CPUs={boot_tunables(spec())['slurm_cpus']}"
    assert starting(lines, "NodeName", "PartitionName") == [
        f"NodeName=compute-0 NodeAddr=10.213.0.11 {cpus} State=UNKNOWN Feature=compute",
        f"NodeName=compute-1 NodeAddr=10.213.0.12 {cpus} State=UNKNOWN Feature=compute",
        "PartitionName=compute Nodes=compute-0,compute-1 Default=YES MaxTime=INFINITE State=UP"]
    assert starting(lines, "Resume", "Suspend") == []


def test_an_elastic_partition_s_nodes_above_min_are_cloud_nodes_with_power_saving(tmp_path: Path) -> None:
    env = spec(partitions=[{"name": "cpu", "min": 1, "max": 3}, {"name": "big", "max": 1, "min": 1}],
               scaling={"idle_minutes": 2.5, "resume_timeout_minutes": 4})
    lines = rendered(tmp_path, env)
    nodes = {line.split()[0]: line.split()[3:] for line in starting(lines, "NodeName")}
    assert nodes == {"NodeName=cpu-0": ["State=UNKNOWN", "Feature=cpu"],
                     "NodeName=cpu-1": ["State=CLOUD", "Feature=cpu"],
                     "NodeName=cpu-2": ["State=CLOUD", "Feature=cpu"],
                     "NodeName=big-0": ["State=UNKNOWN", "Feature=big"]}
    assert starting(lines, "PartitionName") == [
        "PartitionName=cpu Nodes=cpu-0,cpu-1,cpu-2 Default=YES MaxTime=INFINITE State=UP",
        "PartitionName=big Nodes=big-0 Default=NO MaxTime=INFINITE State=UP"]
    assert starting(lines, "Resume", "Suspend") == [
        "ResumeProgram=/var/lib/slurm/power/resume", "SuspendProgram=/var/lib/slurm/power/suspend",
        "ResumeFailProgram=/var/lib/slurm/power/suspend", "SuspendTime=150", "ResumeTimeout=240", "SuspendTimeout=5",
        "SuspendExcNodes=cpu-0,big-0"]
    assert "PrivateData=cloud" in lines  # powered-down nodes stay visible to sinfo


@pytest.mark.parametrize(("minutes", "seconds"), [(0.1, 6), (0.25, 15), (1, 60), (10080, 604800)])
def test_the_idle_time_is_whole_seconds(minutes: float, seconds: int) -> None:
    env = spec(partitions=[{"name": "cpu", "max": 2}], scaling={"idle_minutes": minutes})
    assert power_vars(env)["slurm_suspend_time"] == seconds
