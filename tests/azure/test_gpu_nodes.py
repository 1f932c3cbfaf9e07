"""GPU sizes on Azure, as the inputs the resources get under Pulumi mocks (the shipped stack's program): a compute
size with GPUs boots the Ubuntu-HPC 24.04 image, which carries the NVIDIA driver, even without InfiniBand; the head
keeps plain Ubuntu 24.04 (the same release, so one Slurm); every node boots knowing the GPUs the scale set's dynamic
nodes register with; the contract's partition carries them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from components.azure.slurm_cluster import UBUNTU, UBUNTU_HPC
from spec.environment import Environment
from spec.loader import load_stack_config
from tests.azure.conftest import AzureMocks
from tests.boot.documents import boot_of, parsed, variables_of
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


def boot_variables(mocks: AzureMocks) -> list[dict[str, Any]]:
    """The roles' variables in the head's custom data and in the scale set's."""
    texts = [mocks.one(VM).inputs["osProfile"]["customData"],
             mocks.one(VMSS).inputs["virtualMachineProfile"]["osProfile"]["customData"]]
    return [variables_of(boot_of(parsed(base64.b64decode(text).decode()))) for text in texts]


def test_a_gpu_size_boots_the_hpc_image_with_the_nvidia_driver(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(with_compute("Standard_NC64as_T4_v3")))
    assert images(mocks) == (UBUNTU_HPC, UBUNTU)
    assert [(p.name, p.gpus) for p in outputs.partitions] == [("compute", 4)]
    for variables in boot_variables(mocks):  # the head's GresTypes, the nodes' Gres= and gres.conf
        assert (variables["slurm_dynamic_gpus"], variables["slurm_dynamic_gpu_type"]) == (4, "t4")


def test_a_size_without_gpus_keeps_plain_ubuntu(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(with_compute("Standard_D16s_v5")))
    assert images(mocks) == (UBUNTU, UBUNTU)
    assert [p.gpus for p in outputs.partitions] == [0]
    assert not any("slurm_dynamic_gpus" in variables for variables in boot_variables(mocks))
