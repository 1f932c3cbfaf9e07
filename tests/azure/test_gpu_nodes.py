"""GPU sizes on Azure, as the inputs the resources get under Pulumi mocks (the shipped stack's program): a partition
of a size with GPUs has its VMs boot the Ubuntu-HPC 24.04 image, which carries the NVIDIA driver, even without
InfiniBand; the head keeps plain Ubuntu 24.04 (the same release, so one Slurm); slurm.conf's partition carries the
GPUs its nodes have (GRES, gres.conf); the contract's partition carries them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.azure.slurm_cluster import UBUNTU, UBUNTU_HPC
from spec.environment import Environment
from spec.loader import load_stack_config
from tests.azure.conftest import AzureMocks
from tests.azure.test_slurm_cluster import VM, head_document, power_config
from tests.boot.documents import boot_of, variables_of
from tests.contract import assert_contract
from tests.pulumi_helpers import export

ROOT = Path(__file__).resolve().parents[2]


def with_partitions(*partitions: dict[str, Any]) -> Environment:
    env = load_stack_config("azure-hpc-dev", ROOT).model_dump(by_alias=True, exclude_none=True)
    env.pop("compute", None)
    env["partitions"] = list(partitions)
    return Environment.model_validate(env)


def test_a_gpu_partition_boots_the_hpc_image_with_the_nvidia_driver_and_declares_its_gres(mocks: AzureMocks) -> None:
    outputs = assert_contract(export(with_partitions(
        {"name": "gpu", "instance_type": "Standard_NC64as_T4_v3", "min": 0, "max": 4},
        {"name": "cpu", "instance_type": "Standard_D16s_v5", "min": 1, "max": 2})))
    templates = power_config(mocks).partitions
    assert templates["gpu"].template["properties"]["storageProfile"]["imageReference"] == UBUNTU_HPC
    assert templates["cpu"].template["properties"]["storageProfile"]["imageReference"] == UBUNTU
    assert mocks.one(VM).inputs["storageProfile"]["imageReference"] == UBUNTU
    assert [(p.name, p.gpus) for p in outputs.partitions] == [("gpu", 4), ("cpu", 0)]  # 4 T4: the size's, by default
    variables = variables_of(boot_of(head_document(mocks)))
    assert variables["slurm_partitions"] == [{"name": "gpu", "nodes": ["gpu-[0-3]"], "gpus": 4, "gpu_type": "t4"},
                                             {"name": "cpu", "nodes": ["cpu-[0-1]"]}]
