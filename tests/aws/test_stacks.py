"""The real program for the shipped stack configs, under mocks: it declares what the spec asks and
its exports are exactly the outputs contract every later task reads."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from components.aws.slurm_cluster import USER_DATA_LIMIT
from spec import environment as spec
from spec.loader import load_stack_config
from spec.outputs import ENVIRONMENT_TAG, ComputeMachine
from tests.aws.mocks import EXISTING_VPC, SUBNETS, RecordingMocks
from tests.boot.documents import boot_of, parsed, variables_of
from tests.contract import assert_contract
from tests.pulumi_helpers import export, retained, with_volumes

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "aws:ec2/instance:Instance"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
INTERFACE = "aws:ec2/networkInterface:NetworkInterface"


def test_hpc_stack_exports_the_contract(mocks: RecordingMocks) -> None:
    outputs = assert_contract(export(load_stack_config("hpc-dev", ROOT)))
    assert (outputs.target, outputs.name, outputs.region, outputs.ssh_user) == ("aws", "hpc-dev", "us-east-1",
                                                                                  "ec2-user")
    assert outputs.head is not None and outputs.head.address == "198.51.100.10"
    assert outputs.head.host_key.startswith("ssh-ed25519 ")
    assert outputs.computes == [] and outputs.fleet is not None
    assert (outputs.fleet.expected, outputs.fleet.region) == (4, "us-east-1")
    # discovery looks for the nodes the head launched in the stack's own VPC, not for the name across the region
    vpc = mocks.one("aws:ec2/vpc:Vpc")
    assert (outputs.fleet.group, outputs.fleet.vpc_id) == (None, f"{vpc.name}-id")
    assert (outputs.fleet.tag_key, outputs.fleet.tag_value) == (ENVIRONMENT_TAG, "hpc-dev")
    [compute] = outputs.partitions
    assert (compute.name, compute.min, compute.max) == ("compute", 4, 4)
    assert compute.nodes == ["compute-0", "compute-1", "compute-2", "compute-3"] and compute.elastic_nodes == []
    [scratch] = outputs.volumes
    assert (scratch.node, scratch.mount, scratch.retain) == ("head", "/scratch", True) and scratch.volume_id
    assert outputs.shared is not None and outputs.shared.kind == "efs" and outputs.shared.mount == "/shared"
    assert outputs.containers is None
    assert outputs.compute_machine == ComputeMachine(instance_type="c5n.18xlarge", networking="rdma")  # efa
    provider = mocks.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    assert ENVIRONMENT_TAG in str(provider.inputs["defaultTags"])
    types = {r.type for r in mocks.resources}
    assert {"aws:ec2/vpc:Vpc", "aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate",
            "aws:ebs/volume:Volume", "aws:efs/fileSystem:FileSystem"} <= types
    assert "aws:autoscaling/group:Group" not in types
    assert "aws:ecs/cluster:Cluster" not in types


def test_the_issues_two_partitions_deploy_with_named_nodes_and_their_own_networking(mocks: RecordingMocks) -> None:
    env = load_stack_config("hpc-dev", ROOT).model_dump(by_alias=True, exclude_none=True)
    env.pop("compute", None)
    env["partitions"] = [{"name": "cpu", "instance_types": ["c5n.large", "c5.large"], "min": 0, "max": 100},
                         {"name": "efa", "instance_type": "c5n.18xlarge", "networking": "efa", "min": 2, "max": 8}]
    outputs = assert_contract(export(spec.Environment.model_validate(env)))
    assert outputs.fleet is not None and outputs.fleet.expected == 2  # the always-on nodes
    assert [(p.name, p.instance_type, p.min, p.max, len(p.nodes)) for p in outputs.partitions] == [
        ("cpu", "c5n.large", 0, 100, 100), ("efa", "c5n.18xlarge", 2, 8, 8)]
    assert outputs.elastic_nodes() == {f"cpu-{i}" for i in range(100)} | {f"efa-{i}" for i in range(2, 8)}
    templates = {t.name: t.inputs for t in mocks.of_type(TEMPLATE)}
    networking = {name: variables_of(boot_of(parsed(base64.b64decode(t["userData"]).decode())))["mpi_networking"]
                  for name, t in templates.items()}
    assert networking == {"hpc-dev-cpu": "enhanced", "hpc-dev-efa": "rdma"}
    assert "aws:autoscaling/group:Group" not in {r.type for r in mocks.resources}


def test_containers_stack_exports_a_service_and_no_cluster(mocks: RecordingMocks) -> None:
    outputs = assert_contract(export(load_stack_config("containers-dev", ROOT)))
    assert outputs.head is None and outputs.fleet is None and outputs.volumes == []
    assert outputs.containers is not None and outputs.containers.region == "us-east-1"
    assert outputs.containers.subnets and outputs.containers.security_groups
    types = {r.type for r in mocks.resources}
    assert "aws:ecs/service:Service" in types and "aws:ec2/instance:Instance" not in types


def boot_variables(mocks: RecordingMocks) -> tuple[dict[str, Any], dict[str, Any]]:
    """The roles' variables in the head's user data and in the compute template's (plain: no secret in them)."""
    head = mocks.one(INSTANCE).inputs["userData"]
    compute = base64.b64decode(mocks.one(TEMPLATE).inputs["userData"]).decode()
    for text in (head, compute):
        assert len(text.encode()) <= USER_DATA_LIMIT
    return variables_of(boot_of(parsed(head))), variables_of(boot_of(parsed(compute)))


def test_the_head_boots_mounting_its_ebs_volumes_and_the_efs_share_compute_nodes_the_share(mocks):
    outputs = assert_contract(export(load_stack_config("hpc-dev", ROOT)))
    head, compute = boot_variables(mocks)
    [scratch] = outputs.volumes
    assert outputs.shared is not None
    efs = {"kind": "efs", "source": outputs.shared.source, "mount": "/shared"}  # what `invoke mount` mounts too
    assert efs["source"] == "hpc-dev-efs-id.efs.us-east-1.amazonaws.com"
    assert head["storage_volumes"] == [{"name": "scratch", "volume_id": scratch.volume_id, "mount": "/scratch",
                                        "fs_type": "ext4"}]
    assert scratch.volume_id == mocks.one(VOLUME).name + "-id"
    assert compute["storage_volumes"] == []
    for variables in (head, compute):
        assert variables["storage_shared"] == efs
        assert (variables["storage_owner"], variables["storage_persist"]) == ("ec2-user", True)


def test_the_contract_says_what_destroy_keeps_and_the_head_mounts_an_existing_volume_by_its_id(mocks):
    mocks.answers = {"aws:ebs/getVolume:getVolume": {"id": "vol-0e1e2e3e4", "volumeId": "vol-0e1e2e3e4", "size": 8,
                                                     "availabilityZone": "us-east-1a", "encrypted": True}}
    env = with_volumes(load_stack_config("hpc-dev", ROOT), [
        {"name": "keep", "size_gb": 10, "mount": "/keep", "retain": True},
        {"name": "data", "mount": "/data", "fs_type": "xfs", "from": {"volume_id": "vol-0e1e2e3e4"}},
        {"name": "scratch", "size_gb": 10, "mount": "/scratch", "snapshot_on_destroy": True}])
    outputs = assert_contract(export(env))
    assert [(v.name, v.volume_id, v.retain, v.existing, v.snapshot_on_destroy, v.kept) for v in outputs.volumes] == [
        ("keep", "hpc-dev-keep-id", True, False, False, True), ("data", "vol-0e1e2e3e4", False, True, False, True),
        ("scratch", "hpc-dev-scratch-id", False, False, True, False)]
    head, _ = boot_variables(mocks)
    assert {"name": "data", "volume_id": "vol-0e1e2e3e4", "mount": "/data", "fs_type": "xfs"} in head["storage_volumes"]


def test_the_volumes_are_made_before_the_head_in_its_zone_and_attached_after_it(mocks, registrations):
    export(load_stack_config("hpc-dev", ROOT))
    head = mocks.one(INTERFACE)  # the head's own network interface
    subnets = {r.name + "-id": r.inputs for r in mocks.of_type("aws:ec2/subnet:Subnet")}
    assert mocks.one(VOLUME).inputs["availabilityZone"] == subnets[head.inputs["subnetId"]]["availabilityZone"]
    volume, attachment = f"{VOLUME}::hpc-dev-scratch", f"{ATTACHMENT}::hpc-dev-scratch-attachment"
    instance = f"{INSTANCE}::hpc-dev-head"
    assert depends(registrations, instance, volume)  # its user data holds the volume's id
    assert not depends(registrations, volume, instance)
    assert depends(registrations, attachment, instance) and depends(registrations, attachment, volume)
    assert not depends(registrations, instance, attachment)
    assert mocks.one(ATTACHMENT).inputs["stopInstanceBeforeDetaching"] is True
    # retained, so no final snapshot: the provider takes one only as it deletes the volume
    assert mocks.one(VOLUME).inputs["finalSnapshot"] is False and retained(registrations[volume])
    assert not retained(registrations[attachment])


def test_with_an_existing_vpc_the_volumes_are_made_in_the_head_subnets_zone(subnet_mocks):
    env = load_stack_config("hpc-dev", ROOT)
    existing = env.model_copy(update={"network": spec.Network(
        vpc_id=EXISTING_VPC, public_subnet_ids=["subnet-0000000c"],
        private_subnet_ids=["subnet-0000000b", "subnet-0000000d"])})
    export(existing)
    assert subnet_mocks.one(INTERFACE).inputs["subnetId"] == "subnet-0000000c"
    assert subnet_mocks.one(VOLUME).inputs["availabilityZone"] == SUBNETS["subnet-0000000c"][1] == "us-east-1c"


def depends(registrations: dict[str, Any], resource: str, on: str) -> bool:
    """Whether the engine was told that ``resource`` (``type::name``) depends on ``on``."""
    return any(urn.endswith(on) for urn in registrations[resource].dependencies)


def test_the_compute_nodes_boot_knowing_they_have_efa_and_the_head_that_it_has_ena(mocks):
    """What the mpi role picks Open MPI's network from (EFA for the compute nodes), as their user data says."""
    outputs = assert_contract(export(load_stack_config("hpc-dev", ROOT)))
    head, compute = boot_variables(mocks)
    assert outputs.compute_machine is not None
    assert (compute["mpi_cloud"], compute["mpi_networking"]) == ("aws", outputs.compute_machine.networking) == (
        "aws", "rdma")
    assert (head["mpi_cloud"], head["mpi_networking"]) == ("aws", "enhanced")
