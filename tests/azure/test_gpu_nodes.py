"""GPU sizes on Azure, as the inputs the resources get under Pulumi mocks (the shipped stack's program): a compute
size with GPUs boots the Ubuntu-HPC 24.04 image, which carries the NVIDIA driver, even without InfiniBand; the head
keeps plain Ubuntu 24.04 (the same release, so one Slurm); the contract's partition carries its GPUs."""

from __future__ import annotations

from pathlib import Path

from components.azure.slurm_cluster import UBUNTU, UBUNTU_HPC
from spec.environment import Environment
from spec.loader import load_stack_config
from tests.azure.conftest import AzureMocks
from tests.contract import assert_contract
from tests.pulumi_helpers import export

ROOT = Path(__file__).resolve().parents[2]
VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"


def with_compute(size: str, networking: str = "enhanced") -> Environment:
    env = load_stack_config("azure-hpc-dev", ROOT).model_dump(by_alias=True, exclude_none=True)
    env.pop("partitions", None)
    env["compute"] = {"count": 2, "instance_type": size, "networking": networking}
    return Environment.model_validate(env)


def images(mocks: AzureMocks) -> tuple[dict[str, str], dict[str, str]]:
    """The compute scale set's image and the head's."""
    vmss = mocks.one(VMSS).inputs["virtualMachineProfile"]["storageProfile"]["imageReference"]
    return vmss, mocks.one(VM).inputs["storageProfile"]["imageReference"]


def test_a_gpu_size_boots_the_hpc_image_with_the_nvidia_driver(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(with_compute("Standard_NC64as_T4_v3")))
    assert images(mocks) == (UBUNTU_HPC, UBUNTU)
    assert [(p.name, p.gpus) for p in outputs.partitions] == [("compute", 4)]


def test_a_size_without_gpus_keeps_plain_ubuntu(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(with_compute("Standard_D16s_v5")))
    assert images(mocks) == (UBUNTU, UBUNTU)
    assert [p.gpus for p in outputs.partitions] == [0]
