"""Partitions in the spec: ``compute`` is one static partition, ``partitions`` name theirs; every mistake is one
line naming the field; the saved spec reads back as itself; and an old contract's one partition still loads."""

from __future__ import annotations

import json

import pytest

from spec.environment import Environment
from spec.errors import SpecError
from spec.loader import load_environment, validate
from spec.outputs import Outputs

LOCAL = {"name": "p", "target": "local"}
AWS = {"name": "p", "target": "aws", "region": "us-east-1", "ssh": {"allowed_cidr": "198.51.100.0/24"},
       "head": {"instance_type": "c5n.large"}}


def test_compute_is_one_static_partition_named_compute() -> None:
    env = validate({**LOCAL, "compute": {"count": 3, "networking": "efa"}})
    [partition] = env.slurm_partitions
    assert (partition.name, partition.min, partition.max, partition.networking, partition.elastic) == (
        "compute", 3, 3, "rdma", False)
    assert env.compute is None and env.compute_nodes == ["compute-0", "compute-1", "compute-2"]


def test_partitions_name_their_nodes_and_the_first_type_is_the_partition_s() -> None:
    env = validate({**AWS, "partitions": [{"name": "efa", "instance_types": ["c5n.18xlarge", "c6in.32xlarge"],
                                           "networking": "efa", "min": 2, "max": 2}]})
    [partition] = env.slurm_partitions
    assert (partition.instance_type, partition.instance_types) == ("c5n.18xlarge", ["c5n.18xlarge", "c6in.32xlarge"])
    assert env.compute_nodes == ["efa-0", "efa-1"]
    local = validate({**LOCAL, "partitions": [{"name": "cpu", "max": 2}, {"name": "big", "min": 1, "max": 1}]})
    assert local.compute_nodes == ["cpu-0", "cpu-1", "big-0"]
    assert [(p.instance_type, p.elastic) for p in local.slurm_partitions] == [("local", True), ("local", False)]


@pytest.mark.parametrize(("sections", "line"), [
    ({"partitions": [{"name": "cpu", "max": 2}], "compute": {"count": 2}},
     "spec error: compute = {'count': 2, 'instance_type': None, 'networking': 'none'}: allowed: either compute (one "
     "static partition) or partitions, not both"),
    ({"partitions": []}, "spec error: partitions = []: allowed: at least one partition (or no partitions: compute's "
                         "one)"),
    ({"partitions": [{"name": "cpu", "min": 3, "max": 2}]}, "spec error: partitions[0].min = 3: allowed: at most "
                                                            "max (2)"),
    ({"partitions": [{"name": "cpu", "max": 1}, {"name": "cpu", "max": 2}]},
     "spec error: partitions[1].name = 'cpu': allowed: a name no other partition has (partitions[0] has it)"),
    ({"partitions": [{"name": "big-mem", "max": 1}]},
     "spec error: partitions[0].name = 'big-mem': allowed: a lowercase letter, then up to 11 lowercase letters or "
     "digits (its nodes: <name>-0, ...)"),
    ({"partitions": [{"name": "cpu"}]}, "spec error: partitions[0].max: required"),
    ({"partitions": [{"name": "cpu", "max": 1, "instance_type": "a", "instance_types": ["b", "a"]}]},
     "spec error: partitions[0].instance_types = ['b', 'a']: allowed: instance_type or instance_types, not both"),
    ({"partitions": [{"name": "cpu", "max": 1, "instance_types": ["a", "a"]}]},
     "spec error: partitions[0].instance_types[1] = 'a': allowed: each instance type once"),
    ({"partitions": [{"name": "cpu", "max": 150}, {"name": "big", "max": 50}]},
     "spec error: partitions = 200: allowed: at most 199 compute nodes in all on the local target (one /24 network; "
     "these ask for 200)"),
    ({"scaling": {"idle_minutes": 0}}, "spec error: scaling.idle_minutes = 0: allowed: a number of minutes from 0.1 "
                                       "to 10080"),
    ({"scaling": {"resume_timeout_minutes": True}}, "spec error: scaling.resume_timeout_minutes = True: allowed: a "
                                                    "number of minutes from 0.5 to 120"),
])
def test_each_mistake_is_one_line_naming_the_field(sections: dict[str, object], line: str) -> None:
    with pytest.raises(SpecError) as refused:
        validate({**LOCAL, **sections})
    assert str(refused.value) == line


def test_a_type_is_checked_where_the_user_wrote_it() -> None:
    efa = {"networking": "efa", "min": 1, "max": 1}
    with pytest.raises(SpecError, match=r"^spec error: partitions\[0\]\.instance_types\[1\]: t3\.micro has no EFA"):
        validate({**AWS, "partitions": [{"name": "efa", "instance_types": ["c5n.18xlarge", "t3.micro"], **efa}]})
    with pytest.raises(SpecError, match=r"^spec error: compute\.instance_type: t3\.micro has no EFA"):
        validate({**AWS, "compute": {"instance_type": "t3.micro", "networking": "efa"}})


def test_azure_and_aws_take_several_elastic_partitions() -> None:
    azure = {"name": "p", "target": "azure", "region": "westeurope", "ssh": {"allowed_cidr": "198.51.100.0/24"},
             "head": {"instance_type": "Standard_D4s_v5"}}
    env = validate({**azure, "partitions": [
        {"name": "cpu", "instance_types": ["Standard_D4s_v5", "Standard_D4as_v5"], "max": 4, "spot": True},
        {"name": "hpc", "instance_type": "Standard_HB120rs_v3", "networking": "rdma", "min": 1, "max": 2}]})
    assert [(p.name, p.elastic, p.instance_types, p.spot) for p in env.slurm_partitions] == [
        ("cpu", True, ["Standard_D4s_v5", "Standard_D4as_v5"], True), ("hpc", True, ["Standard_HB120rs_v3"], False)]
    with pytest.raises(SpecError, match=r"^spec error: partitions\[1\]\.instance_type: Standard_D4s_v5 .*InfiniBand"):
        validate({**azure, "partitions": [{"name": "cpu", "instance_type": "Standard_D4s_v5", "max": 4},
                                          {"name": "ib", "instance_type": "Standard_D4s_v5", "networking": "rdma",
                                           "max": 2}]})
    assert validate({**AWS, "partitions": [{"name": "cpu", "instance_type": "c5.large", "max": 4}]}) \
        .slurm_partitions[0].elastic


def test_the_saved_spec_reads_back_as_itself() -> None:
    for spec in ({**LOCAL, "compute": {"count": 2}},
                 {**LOCAL, "partitions": [{"name": "cpu", "max": 3}], "scaling": {"idle_minutes": 0.5}}):
        env = validate(spec)
        again = Environment.model_validate(json.loads(env.model_dump_json()))
        assert again.model_dump() == env.model_dump()


def test_nodes_flag_is_refused_for_a_spec_with_partitions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({**LOCAL, "partitions": [{"name": "cpu", "max": 3}]}))
    with pytest.raises(SpecError) as refused:
        load_environment(str(spec), None, tmp_path, nodes=5)
    assert str(refused.value) == "spec error: --nodes 5: the spec names its partitions; set their min and max there"


def test_a_contract_saved_before_partitions_reads_as_its_one_partition() -> None:
    old = {"target": "local", "name": "old", "ssh_user": "root", "ssh_private_key": "/k",
           "head": {"name": "head", "address": "10.0.0.10", "host_key": "ssh-ed25519 AAAA"},
           "computes": [{"name": f"compute-{i}", "address": f"10.0.0.{11 + i}", "host_key": "ssh-ed25519 AAAA"}
                        for i in range(2)],
           "slurm_partition": "batch", "compute_machine": {"instance_type": "local"}}
    contract = Outputs.model_validate(old)
    assert [p.model_dump() for p in contract.partitions] == [
        {"name": "batch", "instance_type": "local", "min": 2, "max": 2, "nodes": ["compute-0", "compute-1"],
         "gpus": 0}]  # a contract from before GPU partitions has none
    assert (contract.default_partition, contract.elastic_nodes()) == ("batch", set())
    fleet = {**old, "computes": [], "fleet": {"provider": "aws", "region": "us-east-1", "tag_key": "k",
                                              "tag_value": "v", "host_key": "ssh-ed25519 AAAA", "expected": 4}}
    assert [(p.min, p.max, p.nodes) for p in Outputs.model_validate(fleet).partitions] == [(4, 4, [])]
