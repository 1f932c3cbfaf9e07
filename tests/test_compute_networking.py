"""The networking a cloud stack exports for its compute nodes is what they have, not only what the spec asked: a
measurement between them is judged against it (`invoke bench-network`)."""

from __future__ import annotations

from typing import Literal

import pytest

from spec.environment import Environment
from spec.loader import validate
from stacks.slurm import compute_networking


def cloud(target: str, instance_type: str, networking: str) -> Environment:
    region = {"aws": "us-east-1", "azure": "westeurope"}[target]
    return validate({"name": "net", "target": target, "region": region, "ssh": {"allowed_cidr": "198.51.100.0/24"},
                     "head": {"instance_type": instance_type},
                     "compute": {"count": 2, "instance_type": instance_type, "networking": networking}})


@pytest.mark.parametrize(("target", "instance_type", "asked", "has"), [
    ("aws", "c5n.18xlarge", "rdma", "rdma"),
    ("aws", "c5n.large", "none", "enhanced"),  # every Nitro type runs ENA, asked or not
    ("aws", "c3.xlarge", "none", "none"),  # Foster & Gannon's type: no ENA
    ("azure", "Standard_HB120rs_v3", "rdma", "rdma"),
    ("azure", "Standard_D4s_v5", "none", "enhanced"),  # the component turns accelerated networking on
    ("azure", "Standard_A1_v2", "none", "none"),
])
def test_the_exported_networking_is_what_the_nodes_have(target: Literal["aws", "azure"], instance_type: str,
                                                        asked: str, has: str) -> None:
    assert compute_networking(target, cloud(target, instance_type, asked)) == has
