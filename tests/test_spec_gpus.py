"""GPU partitions in the spec: ``gpus`` defaults to what the machine type has (AWS's table from EC2's GpuInfo,
Azure's from the N-series pages), and every type that cannot give them is one line naming the field, the value
and what is allowed; the local target's nodes have none."""

from __future__ import annotations

import gzip
import json

import pytest

from spec.errors import SpecError
from spec.loader import validate
from spec.machine_types import CAPABILITIES, gpu_info, instance_capabilities, vm_sizes
from spec.partition_gpus import gres_type
from tools.instance_capabilities import MOTO_TYPES, render

AWS = {"name": "g", "target": "aws", "region": "us-east-1", "ssh": {"allowed_cidr": "198.51.100.0/24"},
       "head": {"instance_type": "c5n.large"}}
AZURE = {"name": "g", "target": "azure", "region": "westeurope", "ssh": {"allowed_cidr": "198.51.100.0/24"},
         "head": {"instance_type": "Standard_D4s_v5"}}


def gpu_partition(**fields: object) -> dict[str, object]:
    return {"partitions": [{"name": "gpu", "max": 2, **fields}]}


@pytest.mark.parametrize(("spec", "gpus"), [
    ({**AWS, **gpu_partition(instance_type="g4dn.12xlarge")}, 4),
    ({**AWS, **gpu_partition(instance_type="p5.48xlarge", gpus=2)}, 2),
    ({**AWS, **gpu_partition(instance_type="g4dn.12xlarge", gpus=0)}, 0),
    ({**AWS, "compute": {"count": 1, "instance_type": "g5.xlarge"}}, 1),
    ({**AWS, **gpu_partition(instance_type="c5n.large")}, 0),
    ({**AWS, **gpu_partition(instance_type="g6f.large")}, 0),  # 1/8 of an L4: no whole GPU, so none by default
    ({**AWS, **gpu_partition(instance_types=["g4dn.12xlarge", "g5.24xlarge", "g6.48xlarge"])}, 4),
    ({**AZURE, "compute": {"count": 1, "instance_type": "Standard_NC64as_T4_v3"}}, 4),
    ({**AZURE, "compute": {"count": 1, "instance_type": "Standard_ND96isr_H100_v5"}}, 8),
    ({**AZURE, "compute": {"count": 1, "instance_type": "Standard_ND96isr_MI300X_v5"}}, 0),  # AMD: no /dev/nvidia
    ({**AZURE, "compute": {"count": 1, "instance_type": "Standard_NV12ads_A10_v5"}}, 0),  # 1/3 of an A10
    ({"name": "l", "target": "local", "compute": {"count": 2}}, 0),
])
def test_gpus_default_to_what_the_type_has(spec: dict[str, object], gpus: int) -> None:
    assert [p.gpus for p in validate(spec).slurm_partitions] == [gpus]


@pytest.mark.parametrize(("spec", "line"), [
    ({**AWS, **gpu_partition(instance_type="g4dn.12xlarge", gpus=8)},
     "spec error: partitions[0].gpus = 8: allowed: 0 to 4 (g4dn.12xlarge has 4 NVIDIA T4)"),
    ({**AWS, **gpu_partition(instance_type="g6f.large", gpus=1)},
     "spec error: partitions[0].gpus = 1: allowed: 0 (g6f.large has 1/8 of one NVIDIA L4, not a whole GPU Slurm can "
     "count)"),
    ({**AWS, **gpu_partition(instance_type="x9z.large", gpus=1)},
     "spec error: partitions[0].gpus = 1: allowed: 0 (x9z.large is not in the aws capability table, so its GPUs "
     "cannot be shown)"),
    ({**AWS, **gpu_partition(instance_types=["g4dn.12xlarge", "g5.12xlarge", "g5.xlarge"])},
     "spec error: partitions[0].instance_types[2] = 'g5.xlarge': allowed: a type with at least the partition's 4 "
     "GPUs, as Slurm declares them on every node (g5.xlarge has 1 NVIDIA A10G)"),
    ({**AZURE, **gpu_partition(instance_type="Standard_NV18ads_A10_v5", gpus=1, min=2)},
     "spec error: partitions[0].gpus = 1: allowed: 0 (Standard_NV18ads_A10_v5 has 1/2 of one NVIDIA A10, not a whole "
     "GPU Slurm can count)"),
    ({**AZURE, **gpu_partition(instance_type="Standard_ND96isr_MI300X_v5", gpus=8, min=2)},
     "spec error: partitions[0].gpus = 8: allowed: 0 (Standard_ND96isr_MI300X_v5 has 8 AMD MI300X, and gres.conf "
     "names NVIDIA devices only)"),
    ({"name": "l", "target": "local", **gpu_partition(gpus=1)},
     "spec error: partitions[0].gpus = 1: allowed: 0 on target local (its nodes are namespaces of this machine, which "
     "has no GPU to give them)"),
    ({**AWS, **gpu_partition(instance_type="g4dn.xlarge", gpus=17)},
     "spec error: partitions[0].gpus = 17: allowed: an integer from 0 to 16"),
])
def test_each_gpu_mistake_is_one_line_naming_the_field(spec: dict[str, object], line: str) -> None:
    with pytest.raises(SpecError) as refused:
        validate(spec)
    assert str(refused.value) == line


def test_a_type_without_gpus_names_the_families_that_have_them() -> None:
    with pytest.raises(SpecError) as refused:
        validate({**AWS, **gpu_partition(instance_types=["g5.xlarge", "c5n.large"])})
    assert str(refused.value).startswith(
        "spec error: partitions[0].instance_types[1] = 'c5n.large': allowed: a type with at least the partition's 1 "
        "GPUs, as Slurm declares them on every node (c5n.large has no GPU; GPU families: g4dn, g5, ")


def test_the_gres_type_is_the_model_when_every_type_shares_it() -> None:
    same = validate({**AWS, **gpu_partition(instance_types=["g5.12xlarge", "g5.24xlarge"])}).slurm_partitions[0]
    mixed = validate({**AWS, **gpu_partition(instance_types=["g4dn.12xlarge", "g5.12xlarge"])}).slurm_partitions[0]
    assert (gres_type("aws", same), gres_type("aws", mixed)) == ("a10g", "")
    assert gpu_info("aws", "g7.2xlarge").slurm_type == "rtxpro4500"  # type: ignore[union-attr]


def test_the_tables_carry_gpus_where_the_sources_say() -> None:
    aws = instance_capabilities()
    assert sum("gpus" in row for row in aws.values()) == 65  # moto 5.2.5's types with GpuInfo
    assert (aws["p5.48xlarge"]["gpus"], aws["p5.48xlarge"]["gpu_model"]) == (8, "H100")
    assert "gpus" not in aws["c5n.18xlarge"]
    azure = vm_sizes()
    assert {name: row["gpus"] for name, row in azure.items() if row["series"] == "NC_A100_v4"} == {
        "Standard_NC24ads_A100_v4": 1, "Standard_NC48ads_A100_v4": 2, "Standard_NC96ads_A100_v4": 4}
    assert all("gpus" in row for name, row in azure.items() if name.startswith(("Standard_NC", "Standard_ND",
                                                                                "Standard_NV")))
    assert not any("gpus" in row for name, row in azure.items() if name.startswith(("Standard_H", "Standard_D")))


def test_the_aws_table_is_what_its_script_writes_from_moto() -> None:
    """Reproducible: tools/instance_capabilities.py renders exactly the committed file from the pinned moto."""
    table = json.loads(CAPABILITIES.read_text())
    described = json.loads(gzip.decompress(MOTO_TYPES.read_bytes()))
    assert render(described, table["_source"]["generated"]) == CAPABILITIES.read_text()
