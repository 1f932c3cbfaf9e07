"""The networking a cloud stack exports for its compute nodes is what they have, not only what the spec asked: a
measurement between them is judged against it (`invoke bench-network`), and the mpi role picks Open MPI's network
from it at boot."""

from __future__ import annotations

from typing import Literal

import pytest

from spec.environment import Environment
from spec.loader import validate
from stacks.slurm import boot_vars, compute_networking


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


@pytest.mark.parametrize(("target", "compute_type", "asked", "compute_has"), [
    ("aws", "c5n.18xlarge", "rdma", "rdma"),
    ("aws", "c5n.18xlarge", "enhanced", "enhanced"),
    ("aws", "c3.xlarge", "none", "none"),
    ("azure", "Standard_HB120rs_v3", "rdma", "rdma"),
    ("azure", "Standard_A1_v2", "none", "none"),
])
def test_the_nodes_learn_their_cloud_and_networking_at_boot(target: Literal["aws", "azure"], compute_type: str,
                                                            asked: str, compute_has: str) -> None:
    """The compute nodes get the networking the contract exports for them; the head, which runs no ranks and has
    no fabric (no EFA interface, a general-purpose size), gets its own machine's, never rdma."""
    head_type = {"aws": "c5n.large", "azure": "Standard_D4s_v5"}[target]
    env = cloud(target, compute_type, asked).model_copy(update={"head": cloud(target, head_type, "none").head})
    tunables = boot_vars(env, [], None, "hpc")
    assert (tunables["compute"]["mpi_cloud"], tunables["compute"]["mpi_networking"]) == (target, compute_has)
    assert compute_networking(target, env) == compute_has  # what the contract's compute_machine says
    assert (tunables["head"]["mpi_cloud"], tunables["head"]["mpi_networking"]) == (target, "enhanced")
