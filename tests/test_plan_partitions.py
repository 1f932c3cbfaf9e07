"""The plan prices each Slurm partition at its floor and at its ceiling, from the same table as its total, and says
when the nodes above the floor stop; a type the table has not is said, never priced at zero."""

from __future__ import annotations

import pytest

from spec.loader import validate
from targets.plan.partition_cost import PartitionCost, partition_costs
from targets.plan.prices import load_azure_prices, load_prices

AWS = {"name": "p", "target": "aws", "region": "us-east-1", "ssh": {"allowed_cidr": "198.51.100.0/24"},
       "head": {"instance_type": "c5n.large"}}


def test_each_partition_is_priced_from_the_plans_own_table() -> None:
    prices = load_prices("us-east-1")
    env = validate({**AWS, "compute": {"count": 4, "instance_type": "c5n.18xlarge"}})
    [cost] = partition_costs(env, prices)
    hour = prices.instance_hour("c5n.18xlarge")
    assert hour is not None
    assert (cost.name, cost.min, cost.max, cost.per_hour(4)) == ("compute", 4, 4, pytest.approx(4 * hour))
    azure = load_azure_prices("eastus")
    env = validate({"name": "p", "target": "azure", "region": "eastus", "ssh": {"allowed_cidr": "198.51.100.0/24"},
                    "head": {"instance_type": "Standard_D4s_v5"},
                    "compute": {"count": 2, "instance_type": "Standard_HB120rs_v3"}})
    [cost] = partition_costs(env, azure)
    assert cost.per_hour(2) == pytest.approx(2 * azure.vm_hour["Standard_HB120rs_v3"])


def test_an_elastic_partition_says_its_floor_its_ceiling_and_when_nodes_stop() -> None:
    cost = PartitionCost(name="cpu", instance_type="c5n.large", min=1, max=100, node_hour=0.108, idle_minutes=10,
                         hours_per_month=730)
    assert cost.line() == ("partition cpu: 1 to 100 × c5n.large, USD at min 0.11 an hour (78.84 a month), at max "
                           "10.80 an hour, 259.20 a day, 7,884.00 a month; nodes above min stop after 10 min idle")
    assert cost.as_json() == {"name": "cpu", "instance_type": "c5n.large", "min": 1, "max": 100,
                              "node_per_hour_usd": 0.108, "at_min_per_hour_usd": 0.108,
                              "at_max_per_hour_usd": pytest.approx(10.8), "idle_minutes": 10}


def test_a_static_partition_is_always_on_and_an_unknown_type_is_not_priced() -> None:
    static = PartitionCost(name="compute", instance_type="c5n.18xlarge", min=4, max=4, node_hour=3.888,
                           idle_minutes=10, hours_per_month=730)
    assert static.line() == ("partition compute: 4 × c5n.18xlarge, USD 15.55 an hour, 373.25 a day, 11,352.96 a "
                             "month, always on")
    unknown = PartitionCost(name="new", instance_type="z9.large", min=0, max=2, node_hour=None, idle_minutes=10,
                            hours_per_month=730)
    assert (unknown.line(), unknown.per_hour(2)) == ("partition new: 0 to 2 × z9.large: not in the price table", None)


def test_the_elastic_example_plans_each_partition_at_min_and_at_max() -> None:
    from pathlib import Path

    from spec.loader import load_spec_file
    from stacks.aws import build
    from targets.plan.report import as_json, plan

    env = load_spec_file(Path(__file__).resolve().parents[1] / "examples" / "specs" / "aws-elastic.yaml")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6 plan"
    document = as_json(plan(env, lambda: build(env, key)))
    hour = load_prices("us-east-1").instances
    assert [(p["name"], p["min"], p["max"], p["at_min_per_hour_usd"], p["at_max_per_hour_usd"])
            for p in document["partitions"]] == [
        ("cpu", 0, 100, 0, pytest.approx(100 * hour["c5n.large"])),
        ("efa", 2, 8, pytest.approx(2 * hour["c5n.18xlarge"]), pytest.approx(8 * hour["c5n.18xlarge"]))]
    # the total prices what runs from `up` on: the cpu partition's no node and the efa partition's two
    nodes = {line["resource"]: line["per_hour_usd"] for line in document["cost"]["lines"]
             if line["unit"] == "instance-hour" and line["type"] == "aws:ec2/launchTemplate:LaunchTemplate"}
    assert nodes == {"hpc-elastic-cpu": 0, "hpc-elastic-efa": pytest.approx(2 * hour["c5n.18xlarge"])}
