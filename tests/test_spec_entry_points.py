"""A bad spec is a bad spec wherever it is given: `python -m spec.check`, `invoke plan --spec` and `invoke up --spec`
answer each case with the same one line and exit code 2, and `up` refuses before anything happens (no state
written, no target reached). A spark-only spec plans a Spark stack and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from tests.program_run import engine_view, run_program, shipped_config

ROOT = Path(__file__).resolve().parents[1]
CLOUD = "target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\n"
SLURM = "head: {instance_type: c5n.large}\ncompute: {count: 2, instance_type: c5n.18xlarge}\n"
CASES = {
    "efa on t3.micro": (
        "target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\nhead: {instance_type: c5n.large}\n"
        "compute: {count: 2, instance_type: t3.micro, networking: efa}\n",
        "spec error: compute.instance_type: t3.micro has no EFA, so networking: rdma cannot work; choose a type with "
        "EFA (families with EFA: c5n, "),
    "gpus on a type without GPUs": (
        CLOUD + "head: {instance_type: c5n.large}\n"
        "partitions: [{name: gpu, instance_type: c5n.large, max: 2, gpus: 1}]\n",
        "spec error: partitions[0].gpus = 1: allowed: 0 (c5n.large has no GPU; GPU families: g4dn, g5, "),
    "the world without allow_world": (
        CLOUD.replace("198.51.100.0/24", "0.0.0.0/0") + SLURM,
        "spec error: ssh.allowed_cidr: SSH ingress from 0.0.0.0/0 is open to the whole internet; give the network "
        "you connect from, or set ssh.allow_world: true to accept the risk"),
    "a section the stack ignores": (
        CLOUD + "stack: hpc\n" + SLURM + "spark: {core: {count: 2}}\n",
        "spec error: spark: stack hpc would ignore this section (it builds Slurm only, from head, compute, partitions, "
        "scaling, storage); remove the section, or remove stack: hpc to build full"),
    "a stack that does not match the sections": (
        CLOUD + "stack: containers\nspark: {}\n",
        "spec error: spark: stack containers would ignore this section (it builds a container service only, from "
        "containers); remove the section, or remove stack: containers to build spark"),
    "full with one part": (
        CLOUD + "stack: full\n" + SLURM,
        "spec error: stack = 'full': allowed: hpc (the sections ask only for Slurm; full builds two or more of hpc, "
        "spark, containers)"),
    "containers on the local target": (
        "target: local\ncompute: {count: 2}\ncontainers: {image: python:3.12}\n",
        "spec error: containers: target local has no container service (it runs Slurm, and Spark beside it with a "
        "spark section); remove the section, or build it on aws or azure"),
}


def run(state: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(state), "CHPC_STATE_DIR": str(state / "state"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def task(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(state, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks", *args)


@pytest.mark.parametrize("case", list(CASES))
def test_each_entry_point_refuses_with_the_same_line_and_exit_2(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    answers = {"spec.check": run(tmp_path, "-m", "spec.check", str(spec)),
               "plan": task(tmp_path, "plan", "--spec", str(spec)),
               "up": task(tmp_path, "up", "--spec", str(spec), "--yes")}
    lines = {name: (result.returncode, result.stdout, result.stderr.splitlines()) for name, result in answers.items()}
    [line] = lines["spec.check"][2]
    assert line.startswith(expected), line
    assert lines == {name: (2, "", [line]) for name in answers}  # no cost table, no plan, no progress: one line
    state = tmp_path / "state"
    assert not state.exists() or list(state.rglob("*")) == []  # up refused before it wrote or built anything


def test_a_spark_only_spec_plans_a_spark_stack_without_asking_for_a_head(tmp_path: Path) -> None:
    spec = tmp_path / "spark.yaml"
    spec.write_text(CLOUD + "spark: {core: {count: 2, instance_type: m5.xlarge}}\n")
    checked = run(tmp_path, "-m", "spec.check", str(spec))
    assert (checked.returncode, checked.stdout) == (0, "ok: hpc (aws, stack spark)\n")
    planned = task(tmp_path, "plan", "--spec", str(spec), "--format", "json")
    assert planned.returncode == 0, planned.stderr
    types = {resource["type"] for resource in json.loads(planned.stdout)["resources"]}
    assert "aws:emr/cluster:Cluster" in types
    assert not types & {"aws:ec2/instance:Instance", "aws:autoscaling/group:Group", "aws:ecs/cluster:Cluster"}


def test_the_pulumi_program_fails_with_the_same_line(tmp_path: Path) -> None:
    """The program as the language host runs it (config from the engine, under mocks): the line spec.check gives."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(CASES["efa on t3.micro"][0])
    line = run(tmp_path, "-m", "spec.check", str(spec)).stderr.strip()
    config = shipped_config("hpc-dev")
    config["cloud-hpc-toolkit:compute"] = {"count": 2, "instance_type": "t3.micro", "networking": "efa"}
    with pytest.raises(pulumi.RunError) as caught:
        run_program("hpc-dev", *engine_view(config))
    assert str(caught.value) == line
