"""The real program for the shipped stack configs, under mocks: it declares what the spec asks and
its exports are exactly the outputs contract every later task reads."""

from __future__ import annotations

from pathlib import Path

from spec.loader import load_stack_config
from spec.outputs import ENVIRONMENT_TAG
from tests.aws.mocks import RecordingMocks
from tests.contract import assert_contract
from tests.pulumi_helpers import export

ROOT = Path(__file__).resolve().parents[2]


def test_hpc_stack_exports_the_contract(mocks: RecordingMocks) -> None:
    outputs = assert_contract(export(load_stack_config("hpc-dev", ROOT)))
    assert (outputs.target, outputs.name, outputs.region, outputs.ssh_user) == ("aws", "hpc-dev", "us-east-1",
                                                                                  "ec2-user")
    assert outputs.head is not None and outputs.head.address == "198.51.100.10"
    assert outputs.head.host_key.startswith("ssh-ed25519 ")
    assert outputs.computes == [] and outputs.fleet is not None
    assert (outputs.fleet.expected, outputs.fleet.region) == (4, "us-east-1")
    [scratch] = outputs.volumes
    assert (scratch.node, scratch.mount, scratch.retain) == ("head", "/scratch", True) and scratch.volume_id
    assert outputs.shared is not None and outputs.shared.kind == "efs" and outputs.shared.mount == "/shared"
    assert outputs.containers is None
    provider = mocks.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    assert ENVIRONMENT_TAG in str(provider.inputs["defaultTags"])
    types = {r.type for r in mocks.resources}
    assert {"aws:ec2/vpc:Vpc", "aws:ec2/instance:Instance", "aws:autoscaling/group:Group",
            "aws:ebs/volume:Volume", "aws:efs/fileSystem:FileSystem"} <= types
    assert "aws:ecs/cluster:Cluster" not in types


def test_containers_stack_exports_a_service_and_no_cluster(mocks: RecordingMocks) -> None:
    outputs = assert_contract(export(load_stack_config("containers-dev", ROOT)))
    assert outputs.head is None and outputs.fleet is None and outputs.volumes == []
    assert outputs.containers is not None and outputs.containers.region == "us-east-1"
    assert outputs.containers.subnets and outputs.containers.security_groups
    types = {r.type for r in mocks.resources}
    assert "aws:ecs/service:Service" in types and "aws:ec2/instance:Instance" not in types


def test_nodes_prepare_the_mount_points_and_efs_utils_at_boot() -> None:
    from stacks.slurm import boot_vars

    assert boot_vars(load_stack_config("hpc-dev", ROOT)) == {"mount_points": ["/scratch", "/shared"],
                                                              "efs_utils": True}
