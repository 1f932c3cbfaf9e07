"""GPU partitions on AWS, as the inputs the resources get under Pulumi mocks: a GPU partition's launch template boots
the Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) named by its public SSM parameter, every other node of
that cluster Canonical's Ubuntu 24.04 (one Slurm release, one Open MPI), and the slurm role's variables carry the
partition's GPUs; a cluster without GPUs keeps Debian 12 and asks SSM nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.aws.node_image import AMAZON_OWNER, CANONICAL_OWNER
from spec import environment as spec
from spec.loader import load_stack_config
from tests.aws.mocks import RecordingMocks
from tests.aws.test_slurm_cluster import build, templates, user_data
from tests.boot.documents import boot_of, parsed, variables_of
from tests.contract import assert_contract
from tests.pulumi_helpers import export

ROOT = Path(__file__).resolve().parents[2]
PARAMETER = "aws:ssm/getParameter:getParameter"
AMI = "aws:ec2/getAmi:getAmi"
DLAMI = "/aws/service/deeplearning/ami/{arch}/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"
UBUNTU = "/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id"


class ImageMocks(RecordingMocks):
    """Each SSM parameter names an image of its own, and an image looked up by id is that image (its root device
    the Ubuntu images' /dev/sda1), so a launch template's image shows which parameter chose it."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == PARAMETER:
            self.calls.append((args.token, dict(args.args)))
            return {"id": args.args["name"], "name": args.args["name"], "type": "String", "version": 1,
                    "value": image_of(args.args["name"])}
        if args.token == AMI and any(f["name"] == "image-id" for f in args.args.get("filters", [])):
            self.calls.append((args.token, dict(args.args)))
            [image] = next(f["values"] for f in args.args["filters"] if f["name"] == "image-id")
            return {"id": image, "imageId": image, "architecture": "x86_64", "rootDeviceName": "/dev/sda1"}
        return super().call(args)


def image_of(parameter: str) -> str:
    return "ami-" + hashlib.sha256(parameter.encode()).hexdigest()[:17]


@pytest.fixture
def image_mocks() -> Iterator[ImageMocks]:
    recorder = ImageMocks()
    pulumi.runtime.set_mocks(recorder, project="cloud-hpc-toolkit", stack="test", preview=False)
    yield recorder


def gpu_cluster(gpu_type: str = "g4dn.12xlarge", gpus: int = 4) -> tuple[spec.Partition, ...]:
    return (spec.Partition(name="cpu", instance_type="c5n.large", max=10),
            spec.Partition(name="gpu", instance_type=gpu_type, min=1, max=4, gpus=gpus))


def test_a_gpu_partition_boots_the_deep_learning_image_and_the_rest_ubuntu(image_mocks: ImageMocks) -> None:
    build(partitions=gpu_cluster())
    found = templates(image_mocks)
    assert found["hpc-gpu"]["imageId"] == image_of(DLAMI.format(arch="x86_64"))
    assert found["hpc-cpu"]["imageId"] == image_of(UBUNTU.format(arch="amd64"))
    assert image_mocks.one("aws:ec2/instance:Instance").inputs["ami"] == image_of(UBUNTU.format(arch="amd64"))
    for template in found.values():  # the Ubuntu images' root device, as the lookup gave it
        assert [m["deviceName"] for m in template["blockDeviceMappings"]] == ["/dev/sda1"]
    lookups = [args for token, args in image_mocks.calls if token == AMI]
    owners = {f["values"][0]: args["owners"] for args in lookups for f in args["filters"]
              if f["name"] == "image-id"}
    assert owners == {image_of(DLAMI.format(arch="x86_64")): [AMAZON_OWNER],
                      image_of(UBUNTU.format(arch="amd64")): [CANONICAL_OWNER]}


def test_an_arm_gpu_partition_takes_the_arm64_deep_learning_image(image_mocks: ImageMocks) -> None:
    build(partitions=gpu_cluster("g5g.xlarge", 1))
    names = [args["name"] for token, args in image_mocks.calls if token == PARAMETER]
    assert names == [UBUNTU.format(arch="amd64"), DLAMI.format(arch="arm64"), UBUNTU.format(arch="amd64")]


def test_a_cluster_without_gpus_keeps_debian_and_asks_ssm_nothing(image_mocks: ImageMocks) -> None:
    build(partitions=(spec.Partition(name="cpu", instance_type="g4dn.12xlarge", max=2),))  # gpus: 0, not used
    assert [token for token, _ in image_mocks.calls if token == PARAMETER] == []
    lookups = [args for token, args in image_mocks.calls if token == AMI]
    assert {tuple(args["owners"]) for args in lookups} == {("136693071363",)}


def test_every_node_boots_with_the_gpu_partition_s_gres(image_mocks: ImageMocks) -> None:
    build(partitions=gpu_cluster())
    for text in user_data(image_mocks).values():
        partitions = variables_of(boot_of(parsed(text)))["slurm_partitions"]
        assert partitions == [{"name": "cpu", "nodes": ["cpu-[0-9]"]},
                              {"name": "gpu", "nodes": ["gpu-[0-3]"], "gpus": 4, "gpu_type": "t4"}]


def test_the_contract_carries_each_partition_s_gpus(image_mocks: ImageMocks) -> None:
    env = load_stack_config("hpc-dev", ROOT).model_dump(by_alias=True, exclude_none=True)
    env.pop("compute", None)
    env["partitions"] = [{"name": "cpu", "instance_type": "c5n.large", "max": 4},
                         {"name": "gpu", "instance_type": "g4dn.12xlarge", "min": 1, "max": 2}]  # gpus: the type's 4
    outputs = assert_contract(export(spec.Environment.model_validate(env)))
    assert [(p.name, p.gpus) for p in outputs.partitions] == [("cpu", 0), ("gpu", 4)]
