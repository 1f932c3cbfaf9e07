"""Each cost that scales with a count is multiplied by it: a fleet's public IPv4 addresses by its capacity, gp3
IOPS above the free 3,000 by the number of volumes, and an EMR fleet's target capacity divided by the weighted
capacity of its instance type, rounded up (AWS launches whole instances until the target is met)."""

from __future__ import annotations

from typing import Any

import pytest

from targets.plan.cost import GP3_FREE_IOPS, CostLine, estimate
from targets.plan.mock_run import PlannedResource
from targets.plan.prices import load_prices

PRICES = load_prices("us-east-1")
TEMPLATE_ID = "lt-0123"


def resource(type_: str, name: str, id_: str = "", **inputs: Any) -> PlannedResource:
    return PlannedResource(type=type_, name=name, urn=f"urn:pulumi:s::p::{type_}::{name}", parent="", custom=True,
                           id=id_ or f"{name}-id", inputs=inputs)


def fleet(capacity: int, public: bool, volume: dict[str, Any]) -> list[CostLine]:
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "compute", TEMPLATE_ID, instanceType="c5.large",
                        networkInterfaces=[{"associatePublicIpAddress": str(public).lower()}],
                        blockDeviceMappings=[{"deviceName": "/dev/sdf", "ebs": volume}])
    group = resource("aws:autoscaling/group:Group", "compute-asg", desiredCapacity=capacity,
                     launchTemplate={"id": TEMPLATE_ID})
    return estimate([template, group], PRICES).lines


def items(lines: list[CostLine], word: str) -> list[CostLine]:
    return [line for line in lines if word in line.item]


@pytest.mark.parametrize("capacity", [1, 3, 7])
def test_a_fleet_with_public_addresses_pays_one_address_per_instance(capacity: int) -> None:
    (address,) = items(fleet(capacity, True, {"volumeSize": 10, "volumeType": "gp3"}), "public IPv4")
    assert address.quantity == capacity
    assert address.per_hour_usd == pytest.approx(PRICES.public_ipv4_hour * capacity)
    assert items(fleet(capacity, False, {"volumeSize": 10, "volumeType": "gp3"}), "public IPv4") == []


@pytest.mark.parametrize(("capacity", "iops"), [(1, 5000), (4, 5000), (6, 16000)])
def test_gp3_iops_above_the_free_ones_are_paid_on_every_volume(capacity: int, iops: int) -> None:
    (extra,) = items(fleet(capacity, False, {"volumeSize": 50, "volumeType": "gp3", "iops": iops}), "IOPS")
    paid = (iops - GP3_FREE_IOPS) * capacity
    assert extra.quantity == paid
    assert extra.per_hour_usd == pytest.approx(PRICES.gp3_iops_month * paid / PRICES.hours_per_month)


@pytest.mark.parametrize(("on_demand", "spot", "weight", "instances"), [
    (4, 0, 4, 1), (5, 0, 4, 2), (3, 4, 2, 4), (1, 0, 8, 1), (6, 0, 1, 6)])
def test_an_emr_fleets_capacity_in_weighted_units_is_whole_instances_rounded_up(
        on_demand: int, spot: int, weight: int, instances: int) -> None:
    task_fleet = resource("aws:emr/instanceFleet:InstanceFleet", "tasks", targetOnDemandCapacity=on_demand,
                          targetSpotCapacity=spot,
                          instanceTypeConfigs=[{"instanceType": "m5.xlarge", "weightedCapacity": weight}])
    (line,) = estimate([task_fleet], PRICES).lines
    assert line.quantity == instances
    assert line.per_hour_usd == pytest.approx(PRICES.instance_hour("m5.xlarge") * instances)


EMR_NOTE = "EC2 part only: the EMR per-instance fee is not included"


@pytest.mark.parametrize(("inputs", "instances", "note"), [
    ({"instanceType": "m5.xlarge", "instanceCount": 2, "bidPrice": "0.1"}, 2,
     f"{EMR_NOTE}; spot nodes priced at on-demand (an upper bound)"),
    ({"instanceType": "m5.xlarge"}, 1, EMR_NOTE),  # no instanceCount: EMR's default of one
])
def test_an_emr_group_is_its_instances_at_on_demand_prices(inputs: dict[str, Any], instances: int,
                                                           note: str) -> None:
    group = resource("aws:emr/instanceGroup:InstanceGroup", "tasks", **inputs)
    price = PRICES.instance_hour("m5.xlarge")
    assert estimate([group], PRICES).lines == [
        CostLine("tasks", "aws:emr/instanceGroup:InstanceGroup", f"m5.xlarge on-demand × {instances} (EMR task group)",
                 instances, "instance-hour", price, pytest.approx(price * instances), note)]


@pytest.mark.parametrize(("spot", "note"), [
    (0, EMR_NOTE), (2, f"{EMR_NOTE}; spot capacity priced at on-demand (an upper bound)")])
def test_an_emr_fleet_without_weights_counts_one_instance_per_unit(spot: int, note: str) -> None:
    task_fleet = resource("aws:emr/instanceFleet:InstanceFleet", "tasks", targetOnDemandCapacity=3,
                          targetSpotCapacity=spot, instanceTypeConfigs=[{"instanceType": "m5.xlarge"}])
    price = PRICES.instance_hour("m5.xlarge")
    assert estimate([task_fleet], PRICES).lines == [
        CostLine("tasks", "aws:emr/instanceFleet:InstanceFleet", f"m5.xlarge on-demand × {3 + spot} (EMR task fleet)",
                 3 + spot, "instance-hour", price, pytest.approx(price * (3 + spot)), note)]


@pytest.mark.parametrize(("provider", "priced"), [("FARGATE_SPOT", True), ("FARGATE", True), ("my-ec2-asg", False)])
def test_a_service_on_a_fargate_capacity_provider_pays_its_tasks(provider: str, priced: bool) -> None:
    """No launchType: the capacity provider strategy says where the tasks run (on EC2 they are those instances)."""
    definition = resource("aws:ecs/taskDefinition:TaskDefinition", "app", cpu="2048", memory="4096")
    service = resource("aws:ecs/service:Service", "svc", desiredCount=3,
                       taskDefinition="arn:aws:ecs:task-definition:app",
                       capacityProviderStrategies=[{"capacityProvider": provider, "weight": 1}])
    rate = 2 * PRICES.fargate_vcpu_hour + 4 * PRICES.fargate_gb_hour
    expected = [CostLine("svc", "aws:ecs/service:Service", "Fargate task (2 vCPU, 4 GB) × 3", 3, "task-hour",
                         pytest.approx(rate), pytest.approx(3 * rate))]
    assert estimate([definition, service], PRICES).lines == (expected if priced else [])


def test_a_fargate_service_whose_task_definition_is_not_in_the_plan_is_named_unpriced() -> None:
    service = resource("aws:ecs/service:Service", "svc", launchType="FARGATE", desiredCount=2,
                       taskDefinition="arn:aws:ecs:task-definition:elsewhere")
    cost = estimate([service], PRICES)
    assert cost.lines == [CostLine("svc", "aws:ecs/service:Service", "Fargate tasks × 2", 2, "task-hour", None, None,
                                   "task definition not found in the plan")]
    assert (cost.per_hour_usd, cost.unpriced) == (0, cost.lines)


def test_a_fargate_service_without_a_desired_count_runs_one_task() -> None:
    definition = resource("aws:ecs/taskDefinition:TaskDefinition", "app", cpu="512", memory="1024")
    service = resource("aws:ecs/service:Service", "svc", launchType="FARGATE",
                       taskDefinition="arn:aws:ecs:task-definition:app")
    (line,) = estimate([definition, service], PRICES).lines
    rate = 0.5 * PRICES.fargate_vcpu_hour + 1 * PRICES.fargate_gb_hour
    assert (line.item, line.quantity) == ("Fargate task (0.5 vCPU, 1 GB) × 1", 1)
    assert line.per_hour_usd == pytest.approx(rate)


def test_a_fargate_service_may_name_its_task_definition_by_family_alone() -> None:
    definition = resource("aws:ecs/taskDefinition:TaskDefinition", "app", cpu="1024", memory="2048")
    service = resource("aws:ecs/service:Service", "svc", launchType="FARGATE", desiredCount=1, taskDefinition="app")
    (line,) = estimate([definition, service], PRICES).lines
    assert line.per_hour_usd == pytest.approx(PRICES.fargate_vcpu_hour + 2 * PRICES.fargate_gb_hour)


def test_a_new_efs_file_system_costs_nothing_until_it_stores_data() -> None:
    rate = PRICES.efs_standard_gb_month
    assert estimate([resource("aws:efs/fileSystem:FileSystem", "shared")], PRICES).lines == [
        CostLine("shared", "aws:efs/fileSystem:FileSystem", "EFS standard storage, 0 GB stored", 0, "GB-month", rate,
                 0.0, f"EFS billed per GB stored (${rate}/GB-month); a new file system stores 0 GB")]


def test_a_nat_gateway_and_an_elastic_ip_are_one_line_each_per_hour() -> None:
    nat, eip = "aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip"
    assert estimate([resource(nat, "nat"), resource(eip, "nat-ip")], PRICES).lines == [
        CostLine("nat", nat, "NAT gateway", 1, "gateway-hour", PRICES.nat_gateway_hour, PRICES.nat_gateway_hour,
                 f"plus ${PRICES.nat_gateway_gb}/GB processed, not estimated"),
        CostLine("nat-ip", eip, "public IPv4 address", 1, "address-hour", PRICES.public_ipv4_hour,
                 PRICES.public_ipv4_hour)]


def test_a_fleet_without_desired_capacity_runs_its_minimum() -> None:
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "compute", TEMPLATE_ID, instanceType="c5.large")
    group = resource("aws:autoscaling/group:Group", "compute-asg", minSize=3, launchTemplate={"id": TEMPLATE_ID})
    (line,) = estimate([template, group], PRICES).lines
    assert (line.quantity, line.per_hour_usd) == (3, pytest.approx(3 * PRICES.instance_hour("c5.large")))


@pytest.mark.parametrize(("overrides", "priced_as"), [
    ([{"weightedCapacity": "1"}, {"instanceType": "m5.xlarge"}, {"instanceType": "c5.large"}], "m5.xlarge"),
    ([{"weightedCapacity": "1"}], "c5.large"),  # no override names a type: the launch template's
])
def test_a_mixed_instances_fleet_is_priced_as_its_first_override_with_a_type(overrides: list[dict[str, str]],
                                                                            priced_as: str) -> None:
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "compute", TEMPLATE_ID, instanceType="c5.large")
    policy = {"launchTemplate": {"launchTemplateSpecification": {"launchTemplateId": TEMPLATE_ID},
                                 "overrides": overrides}}
    group = resource("aws:autoscaling/group:Group", "compute-asg", desiredCapacity=2, mixedInstancesPolicy=policy)
    (line,) = estimate([template, group], PRICES).lines
    assert line.item == f"{priced_as} on-demand × 2 (launch template × desired capacity)"
    assert line.per_hour_usd == pytest.approx(2 * PRICES.instance_hour(priced_as))


def test_a_fleet_whose_launch_template_is_not_in_the_plan_is_named_unpriced() -> None:
    group = resource("aws:autoscaling/group:Group", "compute-asg", desiredCapacity=2, launchTemplate={"id": "lt-x"})
    (line,) = estimate([group], PRICES).lines
    assert (line.item, line.per_hour_usd) == ("unknown type on-demand × 2 (launch template × desired capacity)", None)


def test_a_fleet_volume_mapped_without_a_device_name_is_called_volume() -> None:
    (volume,) = items(fleet(2, False, {"volumeSize": 10, "volumeType": "gp3"}), "GB")
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "compute", TEMPLATE_ID, instanceType="c5.large",
                        blockDeviceMappings=[{"ebs": {"volumeSize": 10}}])  # no type: priced as gp3
    group = resource("aws:autoscaling/group:Group", "compute-asg", desiredCapacity=2,
                     launchTemplate={"id": TEMPLATE_ID})
    (unnamed,) = items(estimate([template, group], PRICES).lines, "GB")
    assert (volume.item, unnamed.item) == ("gp3 /dev/sdf × 2, 10 GB each", "gp3 volume × 2, 10 GB each")


def test_an_instance_from_a_launch_template_pays_its_type_its_root_and_each_ebs_device() -> None:
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "head-lt", TEMPLATE_ID, instanceType="c5.large")
    head = resource("aws:ec2/instance:Instance", "head", launchTemplate={"id": TEMPLATE_ID},
                    associatePublicIpAddress=True, rootBlockDevice={"volumeSize": 20, "volumeType": "gp3"},
                    ebsBlockDevices=[{"deviceName": "/dev/sdf", "volumeSize": 100, "volumeType": "gp3"},
                                     {"volumeSize": 50}])  # no type: priced as gp2
    lines = estimate([template, head], PRICES).lines
    assert [(line.resource, line.item) for line in lines] == [
        ("head", "c5.large on-demand"), ("head", "gp3 root volume, 20 GB"), ("head", "gp3 volume /dev/sdf, 100 GB"),
        ("head", "gp2 volume, 50 GB"), ("head", "public IPv4 address")]
    assert (lines[-1].quantity, lines[-1].per_hour_usd) == (1, PRICES.public_ipv4_hour)
    assert lines[0].per_hour_usd == PRICES.instance_hour("c5.large")


def test_a_task_definition_without_task_level_cpu_and_memory_costs_nothing_on_fargate() -> None:
    """Such a definition cannot run on Fargate at all; the plan prices it at nothing rather than guess a size."""
    definition = resource("aws:ecs/taskDefinition:TaskDefinition", "app")
    service = resource("aws:ecs/service:Service", "svc", launchType="FARGATE", desiredCount=1, taskDefinition="app")
    (line,) = estimate([definition, service], PRICES).lines
    assert (line.item, line.per_hour_usd) == ("Fargate task (0 vCPU, 0 GB) × 1", 0)


@pytest.mark.parametrize(("low", "high", "says"), [
    (0, 100, "c5n.large on-demand × 0 always on (partition cpu: up to 100 while jobs wait)"),
    (2, 8, "c5n.large on-demand × 2 always on (partition cpu: up to 8 while jobs wait)"),
    (4, 4, "c5n.large on-demand × 4 always on (partition cpu)")])
def test_a_partitions_template_pays_its_always_on_nodes_and_says_its_max(low: int, high: int, says: str) -> None:
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "hpc-cpu", TEMPLATE_ID, instanceType="c5n.large",
                        tags={"chpc:partition": "cpu", "chpc:min": str(low), "chpc:max": str(high)},
                        blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 32,
                                                                                 "volumeType": "gp3"}}])
    lines = estimate([template], PRICES).lines
    assert [(line.item, line.quantity) for line in lines] == [(says, low), ("gp3 /dev/xvda × " + str(low) +
                                                                           ", 32 GB" + (" each" if low != 1 else ""),
                                                                           32 * low)]
    assert lines[0].per_hour_usd == pytest.approx(low * PRICES.instance_hour("c5n.large"))


def test_a_scaling_groups_template_is_priced_with_its_group_only() -> None:
    lines = fleet(3, public=False, volume={"volumeSize": 10, "volumeType": "gp3"})
    assert [line.resource for line in lines] == ["compute-asg", "compute-asg"]


GROUP = "aws:autoscaling/group:Group"


def text_and_numbers(lines: list[CostLine]) -> tuple[list[tuple[str, ...]], list[tuple[float | None, ...]]]:
    """Each line's words exactly (resource, type, item, unit, note) and its numbers (quantity, unit and hourly USD)."""
    return ([(line.resource, line.type, line.item, line.unit, line.note) for line in lines],
            [(line.quantity, line.unit_usd, line.per_hour_usd) for line in lines])


def month(usd: float) -> float:
    """A monthly price an hour, as the plan turns it."""
    return usd / PRICES.hours_per_month


@pytest.mark.parametrize("count", [1, 3])
def test_a_gp3_volume_pays_its_size_and_the_iops_and_throughput_above_the_free_ones_on_each(count: int) -> None:
    lines = fleet(count, False, {"volumeSize": 50, "volumeType": "gp3", "iops": 4000, "throughput": 300})[1:]
    each = " each" if count != 1 else ""
    words, numbers = text_and_numbers(lines)
    assert words == [("compute-asg", GROUP, f"gp3 /dev/sdf × {count}, 50 GB{each}", "GB-month", ""),
                     ("compute-asg", GROUP, "gp3 IOPS above 3000", "IOPS-month", ""),
                     ("compute-asg", GROUP, "gp3 throughput above 125 MiB/s", "MiB/s-month", "")]
    gb, iops, mibps = PRICES.ebs_gb_month["gp3"], PRICES.gp3_iops_month, PRICES.gp3_throughput_mibps_month
    assert numbers == [pytest.approx((50 * count, gb, month(gb * 50 * count))),
                       pytest.approx((1000 * count, iops, month(iops * 1000 * count))),
                       pytest.approx((175 * count, mibps, month(mibps * 175 * count)))]


def test_a_gp3_volume_at_the_free_iops_and_throughput_pays_its_size_alone() -> None:
    lines = fleet(2, False, {"volumeSize": 8, "volumeType": "gp3", "iops": GP3_FREE_IOPS, "throughput": 125})[1:]
    assert [line.item for line in lines] == ["gp3 /dev/sdf × 2, 8 GB each"]


@pytest.mark.parametrize(("kind", "note"), [("io1", ""), ("io2", "io2 above 32,000 IOPS is billed at lower tiers")])
def test_provisioned_iops_are_paid_on_each_io_volume(kind: str, note: str) -> None:
    lines = fleet(2, False, {"volumeSize": 100, "volumeType": kind, "iops": 1000, "throughput": 500})[1:]
    words, numbers = text_and_numbers(lines)
    assert words == [("compute-asg", GROUP, f"{kind} /dev/sdf × 2, 100 GB each", "GB-month", ""),
                     ("compute-asg", GROUP, f"{kind} provisioned IOPS", "IOPS-month", note)]
    gb, iops = PRICES.ebs_gb_month[kind], PRICES.io_iops_month
    assert numbers == [pytest.approx((200, gb, month(gb * 200))), pytest.approx((2000, iops, month(iops * 2000)))]
    assert [line.item for line in fleet(2, False, {"volumeSize": 100, "volumeType": kind})[1:]] == [
        f"{kind} /dev/sdf × 2, 100 GB each"]  # no IOPS given: none paid


def test_a_volume_type_the_table_has_not_is_a_line_without_a_price_that_says_so() -> None:
    (line,) = fleet(2, False, {"volumeSize": 10, "volumeType": "gp9"})[1:]
    assert text_and_numbers([line]) == ([("compute-asg", GROUP, "gp9 /dev/sdf × 2, 10 GB each", "GB-month",
                                          "no offline price for EBS gp9")], [(20, None, None)])


def test_a_volume_without_a_size_is_named_unpriced() -> None:
    (line,) = fleet(3, False, {"volumeType": "gp3"})[1:]
    assert text_and_numbers([line]) == ([("compute-asg", GROUP, "/dev/sdf × 3", "GB-month",
                                          "size comes from the AMI or snapshot: not priced")], [(3, None, None)])


def test_an_instance_type_the_table_has_not_is_a_line_without_a_price_that_says_so() -> None:
    head = resource("aws:ec2/instance:Instance", "head", instanceType="zz9.huge")
    line, _root_volume = estimate([head], PRICES).lines
    assert text_and_numbers([line]) == ([("head", "aws:ec2/instance:Instance", "zz9.huge on-demand", "instance-hour",
                                          "no offline price for zz9.huge in us-east-1; use --live-prices")],
                                        [(1, None, None)])
