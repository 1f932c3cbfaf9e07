"""The spark composition under mocks: the shipped spark-dev config declares an EMR cluster in the network's
private subnet and exports the `SparkCluster` contract that `invoke submit-spark` reads; a spark section beside
Slurm's makes the stack full, which adds it; hpc never declares one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from spec.environment import Environment
from spec.loader import load_stack_config, validate
from tests.aws.mocks import RecordingMocks
from tests.contract import assert_contract
from tests.pulumi_helpers import export

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "aws:emr/cluster:Cluster"


def example(drop: tuple[str, ...] = (), **changes: Any) -> Environment:
    """examples/specs/aws-hpc.yaml (Slurm and storage) without the sections ``drop`` names, with ``changes``."""
    spec = yaml.safe_load((ROOT / "examples" / "specs" / "aws-hpc.yaml").read_text())
    return validate({**{key: value for key, value in spec.items() if key not in drop}, **changes})


def test_spark_stack_exports_the_cluster_its_bucket_and_logs(mocks: RecordingMocks) -> None:
    outputs = assert_contract(export(load_stack_config("spark-dev", ROOT)))
    assert outputs.spark is not None
    assert outputs.spark.model_dump(exclude_none=True) == {
        "provider": "aws", "master": "spark-dev-emr-id", "region": "us-east-1", "bucket": "spark-dev-emr-bucket",
        "log_uri": "s3://spark-dev-emr-bucket/logs/"}
    assert outputs.head is None and outputs.fleet is None and outputs.containers is None
    cluster = mocks.one(CLUSTER).inputs
    assert cluster["ec2Attributes"]["subnetId"] == "spark-dev-private-0-id"  # the Network's first private subnet
    groups = {r.name: r.inputs for r in mocks.of_type("aws:ec2/securityGroup:SecurityGroup")}
    assert groups["spark-dev-emr-master"]["vpcId"] == "spark-dev-vpc-id"
    assert cluster["coreInstanceFleet"]["targetOnDemandCapacity"] == 2.0  # as Pulumi.spark-dev.yaml asks
    assert cluster["autoTerminationPolicy"] == {"idleTimeout": 1800.0}
    types = {r.type for r in mocks.resources}
    assert "aws:ec2/instance:Instance" not in types and "aws:ecs/cluster:Cluster" not in types


def test_full_stack_adds_spark_beside_slurm_and_containers(mocks: RecordingMocks) -> None:
    env = example(spark={"core": {"count": 3, "instance_type": "m5.xlarge"}},
                  containers={"image": "public.ecr.aws/docker/library/python:3.12"})
    assert (env.stack, env.parts) == ("full", {"hpc", "spark", "containers"})  # from the sections, no stack: given
    outputs = assert_contract(export(env))
    assert outputs.head is not None and outputs.containers is not None
    assert outputs.spark is not None and outputs.spark.master == "hpc-dev-emr-id"
    core = mocks.one(CLUSTER).inputs["coreInstanceGroup"]
    assert (core["instanceCount"], core["instanceType"]) == (3.0, "m5.xlarge")  # the example's spark section


def test_hpc_stack_declares_no_emr(mocks: RecordingMocks) -> None:
    outputs = assert_contract(export(example()))
    assert outputs.spark is None and mocks.of_type(CLUSTER) == []


def test_bootstrap_paths_are_relative_to_the_project(mocks: RecordingMocks) -> None:
    env = example(drop=("head", "compute", "storage"), spark={"bootstrap": ["ansible/boot.sh"]})
    assert env.stack == "spark"
    export(env)
    script = mocks.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs
    assert script["source"].path == str(ROOT / "ansible" / "boot.sh")
    assert mocks.one(CLUSTER).inputs["bootstrapActions"][0]["name"] == "boot.sh"
