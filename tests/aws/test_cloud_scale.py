"""`invoke scale` on a cloud stack (AWS or Azure: one path) refuses what cannot be, in one line with exit 2, before it
changes anything: no config written, nothing deployed, no node reached. The CLI runs as a user runs it, with the
stand-in Pulumi CLI (``tests/pulumi_cli``) holding the deployed stacks; the stacks' config is the checkout's (read,
never written). What a scale does to a stack and its nodes runs for real in ``tests/local/test_stack_scale.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.aws.mocks import FAKE_ED25519
from tests.local.harness import ROOT, invoke
from tests.pulumi_cli.fixture import FakePulumi

STACKS = {"aws": "hpc-dev", "azure": "azure-hpc-dev"}  # the checkout's stacks, whose config has compute: only
SCOPE = {"aws": {"region": "us-east-1", "ssh_user": "ec2-user"},
         "azure": {"region": "westeurope", "ssh_user": "azureuser",
                   "azure": {"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "hpc-rg"}}}


def contract(name: str, target: str, partitions: list[dict[str, object]]) -> dict[str, object]:
    """What a cloud stack of environment ``name`` exports, its compute fleet named by ``partitions``."""
    where = SCOPE[target]
    fleet = {"provider": target, "region": where["region"], "tag_key": "chpc:environment", "tag_value": name,
             "host_key": FAKE_ED25519, "expected": sum(int(str(p["min"])) for p in partitions)}
    return {"target": target, "name": name, **where, "ssh_private_key": "~/.ssh/id_ed25519",
            "head": {"name": "head", "address": "127.0.0.1", "host_key": FAKE_ED25519},
            "fleet": fleet, "partitions": partitions}


def named(name: str, low: int, high: int) -> dict[str, object]:
    """A partition whose nodes the head starts by name (AWS, and Azure since its partitions are elastic)."""
    return {"name": name, "instance_type": "c5.large", "min": low, "max": high,
            "nodes": [f"{name}-{index}" for index in range(high)]}


def refused(fake_pulumi: FakePulumi, state: Path, stack: str, *flags: str) -> tuple[int, str]:
    """`invoke scale --stack STACK FLAGS`: its exit code and its one line; checks it changed nothing."""
    config = (ROOT / f"Pulumi.{stack}.yaml").read_bytes()
    result = invoke(state, "scale", "--stack", stack, *flags, env=fake_pulumi.env(), timeout=120)
    assert not fake_pulumi.ran("config", "set") and not fake_pulumi.ran("up")
    assert (ROOT / f"Pulumi.{stack}.yaml").read_bytes() == config
    return result.returncode, result.stderr.strip() or result.stdout.strip()


@pytest.mark.parametrize("target", sorted(STACKS))
@pytest.mark.parametrize(("flags", "line"), [
    (["--partition", "gpu", "--min", "1"], "scale: no partition named 'gpu' in environment '{stack}' (partitions: "
                                           "cpu, efa)"),
    (["--partition", "cpu", "--min", "4"], "scale --min 4: partition cpu has 3 nodes; give 0 to 3"),
    # deployed, but no longer in the stack's config (Pulumi.{stack}.yaml has compute: only)
    (["--partition", "cpu", "--min", "1"], "scale: the config of stack {stack} (Pulumi.{stack}.yaml) has no "
                                           "partition 'cpu', which its deployment has: `invoke up --stack` it first, "
                                           "or edit it back"),
])
def test_a_partition_the_stack_cannot_scale_to_that_floor_is_one_line_and_exit_2(
        fake_pulumi: FakePulumi, tmp_path: Path, target: str, flags: list[str], line: str) -> None:
    stack = STACKS[target]
    fake_pulumi.deploy(stack, contract(stack, target, [named("cpu", 0, 3), named("efa", 2, 8)]))
    assert refused(fake_pulumi, tmp_path / "state", stack, *flags) == (2, f"error: {line.format(stack=stack)}")


@pytest.mark.parametrize("target", sorted(STACKS))
def test_a_stack_of_one_static_partition_is_one_line_and_exit_2(fake_pulumi: FakePulumi, tmp_path: Path,
                                                                target: str) -> None:
    """The checkout's stack gives its nodes as ``compute:`` (one static partition, no min to move)."""
    stack = STACKS[target]
    fake_pulumi.deploy(stack, contract(stack, target, [named("compute", 4, 4)]))
    assert refused(fake_pulumi, tmp_path / "state", stack, "--partition", "compute", "--min", "2") == (
        2, f"error: scale: stack {stack} has no elastic partitions (compute: is one static partition); name it under "
           "partitions: with a min below its max, `invoke up`, then scale it")


def test_a_fleet_slurm_does_not_start_by_name_is_one_line_and_exit_2(fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    """A contract whose fleet names no nodes (an Azure stack deployed before its partitions were elastic)."""
    fleet = contract("azure-hpc-dev", "azure", [{"name": "compute", "instance_type": "Standard_HB120rs_v3",
                                                 "min": 4, "max": 4}])
    fake_pulumi.deploy("azure-hpc-dev", {**fleet, "fleet": {**fleet["fleet"],  # type: ignore[dict-item]
                                                            "group": "azure-hpc-dev-compute"}})
    assert refused(fake_pulumi, tmp_path / "state", "azure-hpc-dev", "--partition", "compute", "--min", "2") == (
        2, "error: scale: environment 'azure-hpc-dev' has no elastic partitions: its 4 compute nodes are one fleet, "
           "not nodes Slurm starts by name")
