"""What an environment builds follows from its spec's sections; ``stack:`` may say it too, but must agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec.errors import SpecError
from spec.loader import load_environment, load_stack_config, validate

ROOT = Path(__file__).resolve().parents[1]
AWS = {"target": "aws", "region": "us-east-1", "ssh": {"allowed_cidr": "198.51.100.0/24"}}
HEAD = {"instance_type": "c5n.large"}
COMPUTE = {"count": 2, "instance_type": "c5n.large"}
SPARK = {"core": {"count": 2}}
CONTAINERS = {"image": "python:3.12"}


@pytest.mark.parametrize(("sections", "stack", "parts"), [
    ({"head": HEAD, "compute": COMPUTE}, "hpc", {"hpc"}),
    ({"spark": SPARK}, "spark", {"spark"}),
    ({"containers": CONTAINERS}, "containers", {"containers"}),
    ({"head": HEAD, "compute": COMPUTE, "spark": SPARK}, "full", {"hpc", "spark"}),
    ({"spark": SPARK, "containers": CONTAINERS}, "full", {"spark", "containers"}),
    ({"head": HEAD, "compute": COMPUTE, "storage": {}, "spark": SPARK, "containers": CONTAINERS}, "full",
     {"hpc", "spark", "containers"}),
])
def test_the_stack_follows_from_the_sections(sections: dict[str, object], stack: str, parts: set[str]) -> None:
    env = validate({**AWS, **sections})
    assert (env.stack, env.parts) == (stack, parts)
    assert validate({**AWS, **sections, "stack": stack}).parts == parts  # the same stack given agrees


def test_a_spec_without_sections_is_slurm_and_asks_for_its_machines() -> None:
    with pytest.raises(SpecError, match=r"^spec error: head\.instance_type: required for target aws"):
        validate(AWS)
    assert validate({"target": "local"}).parts == {"hpc"}


def test_a_spark_only_spec_asks_for_no_head() -> None:
    env = validate({**AWS, "spark": SPARK})
    assert env.head.instance_type is None and env.slurm_partitions == []


@pytest.mark.parametrize(("sections", "line"), [
    ({"stack": "hpc", "head": HEAD, "compute": COMPUTE, "containers": CONTAINERS},
     "spec error: containers: stack hpc would ignore this section (it builds Slurm only, from head, compute, "
     "partitions, scaling, storage); remove the section, or remove stack: hpc to build full"),
    ({"stack": "spark", "spark": SPARK, "storage": {"volumes": []}},
     "spec error: storage: stack spark would ignore this section (it builds Spark only, from spark); remove the "
     "section, or remove stack: spark to build full"),
    ({"stack": "spark"}, "spec error: spark: required for stack spark (e.g. spark: {core: {count: 2}})"),
    ({"stack": "containers"}, "spec error: containers: required for stack containers (e.g. containers: "
                              "{image: ...})"),
    ({"stack": "full", "spark": SPARK}, "spec error: stack = 'full': allowed: spark (the sections ask only for "
                                        "Spark; full builds two or more of hpc, spark, containers)"),
])
def test_a_stack_that_disagrees_with_the_sections_is_one_line(sections: dict[str, object], line: str) -> None:
    with pytest.raises(SpecError) as refused:
        validate({**AWS, **sections})
    assert str(refused.value) == line


def test_the_local_target_always_runs_slurm_and_spark_beside_it() -> None:
    assert validate({"target": "local", "spark": {}}).parts == {"hpc", "spark"}
    assert validate({"target": "local", "stack": "full", "spark": {}}).stack == "full"
    with pytest.raises(SpecError, match=r"^spec error: spark: stack hpc would ignore this section"):
        validate({"target": "local", "stack": "hpc", "spark": {}})


def test_nodes_is_refused_for_a_stack_without_slurm_and_counts_slurm_s(tmp_path: Path) -> None:
    assert load_environment(None, "hpc-dev", ROOT, nodes=7).slurm_partitions[0].max == 7
    with pytest.raises(SpecError) as refused:
        load_environment(None, "spark-dev", ROOT, nodes=3)
    assert str(refused.value) == "spec error: --nodes 3: stack spark has no Slurm compute nodes"


@pytest.mark.parametrize(("stack", "parts"), [
    ("hpc-dev", {"hpc"}), ("spark-dev", {"spark"}), ("containers-dev", {"containers"}), ("local-dev", {"hpc"}),
    ("azure-hpc-dev", {"hpc"}), ("azure-spark-dev", {"spark"}), ("azure-containers-dev", {"containers"}),
])
def test_each_shipped_stack_config_builds_what_its_sections_say(stack: str, parts: set[str]) -> None:
    assert load_stack_config(stack, ROOT).parts == parts
