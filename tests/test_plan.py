"""The offline plan: evaluating a real pulumi_aws program under the plan's mocks, pricing it, judging it,
and the JSON it prints. Until ``stacks`` provides the real program, a small program of real resources
(head instance, launch template + Auto Scaling group, EBS volume, NAT gateway, EFS, a Fargate service)
stands in; ``benchmarks/plan.py`` uses it too."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pulumi
import pulumi_aws as aws
import pytest
from botocore.stub import Stubber
from rich.console import Console

from components.security import SecurityViolation, check_ssh_cidr, refuse
from spec.environment import Environment
from targets.plan.cost import estimate
from targets.plan.mock_run import UnmockedCall, evaluate
from targets.plan.prices import PriceError, fetch_instance_prices, load_prices, parse_price_list, product_filters
from targets.plan.report import as_json, plan, render
from tests.aws.mocks import RecordingMocks

HOURS_PER_MONTH = 730
# us-east-1 figures of targets/plan/prices_aws.json, written out so the arithmetic below is checked by hand
C5N_LARGE, C5N_18XLARGE, GP3_GB_MONTH, NAT_HOUR, IPV4_HOUR = 0.108, 3.888, 0.08, 0.045, 0.005
FARGATE_VCPU_HOUR, FARGATE_GB_HOUR = 0.04048, 0.004445


class SampleCluster(pulumi.ComponentResource):
    """A head instance and a fleet of ``count`` compute nodes (one launch template, one Auto Scaling group)."""

    def __init__(self, name: str, count: int, imds_v1_head: bool) -> None:
        super().__init__("cloud-hpc-toolkit:test:SampleCluster", name, None, None)
        child = pulumi.ResourceOptions(parent=self)
        ami = aws.ec2.get_ami(most_recent=True, owners=["amazon"], opts=pulumi.InvokeOptions(parent=self),
                              filters=[{"name": "architecture", "values": ["x86_64"]}])
        aws.ec2.Instance(f"{name}-head", ami=ami.id, instance_type="c5n.large", subnet_id="subnet-0a1b2c3d",
                         metadata_options=None if imds_v1_head else {"http_tokens": "required"},
                         root_block_device={"volume_size": 32, "volume_type": "gp3", "encrypted": True},
                         user_data=pulumi.Output.secret("#!/bin/sh\necho munge-key-material\n"), opts=child)
        template = aws.ec2.LaunchTemplate(
            f"{name}-compute", image_id=ami.id, instance_type="c5n.18xlarge",
            metadata_options={"http_tokens": "required"},
            block_device_mappings=[{"device_name": "/dev/xvda",
                                    "ebs": {"volume_size": 32, "volume_type": "gp3", "encrypted": "true"}}],
            opts=child)
        aws.autoscaling.Group(f"{name}-compute", desired_capacity=count, min_size=count, max_size=count,
                              vpc_zone_identifiers=["subnet-0a1b2c3d"], opts=child,
                              launch_template={"id": template.id, "version": template.latest_version.apply(str)})
        self.register_outputs({})


def sample_program(count: int = 4, imds_v1_head: bool = False) -> None:
    SampleCluster("hpc", count, imds_v1_head)
    aws.ebs.Volume("hpc-scratch", availability_zone="us-east-1a", size=500, type="gp3", encrypted=True)
    ip = aws.ec2.Eip("hpc-nat-ip", domain="vpc")
    aws.ec2.NatGateway("hpc-nat", allocation_id=ip.id, subnet_id="subnet-0a1b2c3d")
    aws.efs.FileSystem("hpc-shared", encrypted=True)
    definition = aws.ecs.TaskDefinition("hpc-app", family="hpc-app", cpu="1024", memory="2048",
                                        network_mode="awsvpc", requires_compatibilities=["FARGATE"],
                                        container_definitions=json.dumps([{"name": "app", "image": "python:3.12"}]))
    aws.ecs.Service("hpc-app", cluster="hpc", task_definition=definition.arn, desired_count=2, launch_type="FARGATE")


def expected_per_hour(count: int) -> float:
    ebs_gb = 32 + 500 + 32 * count  # head root + scratch + one root volume per compute node
    fargate = 2 * (1 * FARGATE_VCPU_HOUR + 2 * FARGATE_GB_HOUR)  # 2 tasks of 1 vCPU, 2 GB
    return C5N_LARGE + count * C5N_18XLARGE + GP3_GB_MONTH * ebs_gb / HOURS_PER_MONTH + NAT_HOUR + IPV4_HOUR + fargate


def aws_env(**sections: Any) -> Environment:
    return Environment.model_validate({
        "name": "hpc", "target": "aws", "region": "us-east-1", "ssh": {"allowed_cidr": "198.51.100.0/24"},
        "head": {"instance_type": "c5n.large"}, "compute": {"count": 4, "instance_type": "c5n.18xlarge",
                                                            "networking": "rdma"}, **sections})


def planned(count: int = 4, **kwargs: Any) -> list:
    return evaluate(lambda: sample_program(count, **kwargs), project="cloud-hpc-toolkit", stack="test")


# --- evaluate -------------------------------------------------------------------------------------------

def test_evaluate_records_every_resource_with_camel_case_inputs_and_the_tree():
    resources = planned()
    by_name = {(r.type, r.name): r for r in resources}
    assert len(resources) == 10
    cluster = by_name[("cloud-hpc-toolkit:test:SampleCluster", "hpc")]
    assert not cluster.custom
    head = by_name[("aws:ec2/instance:Instance", "hpc-head")]
    assert head.parent == cluster.urn and head.custom
    assert head.inputs["instanceType"] == "c5n.large"
    assert head.inputs["ami"] == "ami-0123456789abcdef0"  # the getAmi answer reached the instance
    assert head.inputs["rootBlockDevice"] == {"volumeSize": 32.0, "volumeType": "gp3", "encrypted": True}
    assert head.inputs["metadataOptions"] == {"httpTokens": "required"}
    group = by_name[("aws:autoscaling/group:Group", "hpc-compute")]
    template = by_name[("aws:ec2/launchTemplate:LaunchTemplate", "hpc-compute")]
    assert group.inputs["launchTemplate"] == {"id": template.id, "version": "1"}
    assert group.inputs["desiredCapacity"] == 4.0
    stack = "urn:pulumi:test::cloud-hpc-toolkit::pulumi:pulumi:Stack::cloud-hpc-toolkit-test"
    assert by_name[("aws:ec2/natGateway:NatGateway", "hpc-nat")].parent == stack
    # parents come first
    assert [r.name for r in resources].index("hpc") < [r.name for r in resources].index("hpc-head")


def test_evaluate_redacts_secrets():
    head = next(r for r in planned() if r.name == "hpc-head")
    assert head.inputs["userData"] == "[secret]"
    assert "munge-key-material" not in json.dumps([r.inputs for r in planned()])


def test_unmocked_data_sources_fail_loudly():
    with pytest.raises(UnmockedCall, match="aws:ec2/getVpc:getVpc"):
        evaluate(lambda: aws.ec2.get_vpc(default=True), project="p", stack="s")


def test_evaluate_leaves_a_callers_mocks_in_place():
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="cloud-hpc-toolkit", stack="test", preview=False)
    planned()

    @pulumi.runtime.test
    def build() -> pulumi.Output[str]:
        return aws.ec2.Vpc("after-plan", cidr_block="10.0.0.0/16").id

    build()
    assert [r.name for r in mocks.resources] == ["after-plan"]  # none of the plan's, and the caller's still work


def test_existing_subnets_are_answered_from_the_spec():
    def program() -> None:
        for subnet_id in ("subnet-0000000a", "subnet-0000000b", "subnet-0000000c"):
            subnet = aws.ec2.get_subnet(id=subnet_id)
            aws.ec2.Instance(subnet_id, ami="ami-1", instance_type="t3.micro", subnet_id=subnet.id,
                             availability_zone=subnet.availability_zone, tags={"vpc": subnet.vpc_id})

    env = aws_env(network={"vpc_id": "vpc-0123abcd", "public_subnet_ids": ["subnet-0000000a"],
                           "private_subnet_ids": ["subnet-0000000b", "subnet-0000000c"]})
    result = plan(env, program)
    assert [(r.name, r.inputs["availabilityZone"], r.inputs["tags"]["vpc"]) for r in result.resources] == [
        ("subnet-0000000a", "us-east-1a", "vpc-0123abcd"), ("subnet-0000000b", "us-east-1a", "vpc-0123abcd"),
        ("subnet-0000000c", "us-east-1b", "vpc-0123abcd")]


# --- cost -----------------------------------------------------------------------------------------------

def test_cost_lines_and_totals_follow_the_price_table():
    cost = estimate(planned(4), load_prices("us-east-1"))
    lines = {(line.resource, line.item): line for line in cost.lines}
    head = lines[("hpc-head", "c5n.large on-demand")]
    assert (head.quantity, head.unit_usd, head.per_hour_usd) == (1, C5N_LARGE, C5N_LARGE)
    fleet = lines[("hpc-compute", "c5n.18xlarge on-demand × 4 (launch template × desired capacity)")]
    assert (fleet.quantity, fleet.per_hour_usd) == (4, pytest.approx(4 * C5N_18XLARGE))
    roots = lines[("hpc-compute", "gp3 /dev/xvda × 4, 32 GB each")]
    assert roots.per_hour_usd == pytest.approx(GP3_GB_MONTH * 128 / HOURS_PER_MONTH)
    scratch = lines[("hpc-scratch", "gp3 volume, 500 GB")]
    assert scratch.per_day_usd == pytest.approx(GP3_GB_MONTH * 500 / HOURS_PER_MONTH * 24)
    assert lines[("hpc-nat", "NAT gateway")].per_hour_usd == NAT_HOUR
    assert lines[("hpc-nat-ip", "public IPv4 address")].per_hour_usd == IPV4_HOUR
    efs = lines[("hpc-shared", "EFS standard storage, 0 GB stored")]
    assert efs.per_hour_usd == 0 and "billed per GB stored" in efs.note
    fargate = lines[("hpc-app", "Fargate task (1 vCPU, 2 GB) × 2")]
    assert fargate.per_hour_usd == pytest.approx(2 * (FARGATE_VCPU_HOUR + 2 * FARGATE_GB_HOUR))
    assert cost.unpriced == []
    assert cost.per_hour_usd == pytest.approx(expected_per_hour(4), rel=1e-12)
    assert cost.per_day_usd == pytest.approx(24 * expected_per_hour(4), rel=1e-12)


def test_fleet_of_1000_declares_what_a_fleet_of_2_does_and_costs_in_proportion():
    small, large = planned(2), planned(1000)
    assert sorted((r.type, r.name) for r in small) == sorted((r.type, r.name) for r in large)
    prices = load_prices("us-east-1")
    small_cost, large_cost = estimate(small, prices).per_hour_usd, estimate(large, prices).per_hour_usd
    assert small_cost == pytest.approx(expected_per_hour(2), rel=1e-12)
    assert large_cost == pytest.approx(expected_per_hour(1000), rel=1e-12)
    assert large_cost - small_cost == pytest.approx(998 * (C5N_18XLARGE + GP3_GB_MONTH * 32 / HOURS_PER_MONTH))


def test_prices_are_per_region_and_missing_ones_are_named():
    eu = estimate(planned(4), load_prices("eu-west-1"))
    fleet = next(line for line in eu.lines if line.item.startswith("c5n.18xlarge"))
    assert fleet.per_hour_usd == pytest.approx(4 * 4.392)
    west = load_prices("us-west-2")
    unpriced = estimate(evaluate(lambda: aws.ec2.Instance("x", ami="a", instance_type="t3.micro"),
                                 project="p", stack="s"), west).unpriced
    assert [line.note for line in unpriced] == ["no offline price for t3.micro in us-west-2; use --live-prices",
                                                "size comes from the AMI or snapshot: not priced"]
    with pytest.raises(PriceError, match="no offline prices for region ap-south-2"):
        load_prices("ap-south-2")


# --- live prices (moto has no Pricing API: the API's response shape is recorded here) --------------------

def price_document(instance_type: str, usd: str) -> str:
    """One ``PriceList`` entry as ``pricing.get_products`` returns it (a JSON string), trimmed."""
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "sku": "SKU1", "attributes": {
            "instanceType": instance_type, "regionCode": "eu-west-1", "operatingSystem": "Linux",
            "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}},
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {"SKU1.JRTCKXETXF": {"offerTermCode": "JRTCKXETXF", "sku": "SKU1", "priceDimensions": {
                "SKU1.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": usd},
                                               "description": f"${usd} per On Demand Linux {instance_type}"}}}},
            "Reserved": {"SKU1.4NA7Y494T4": {"priceDimensions": {
                "SKU1.4NA7Y494T4.2TG2D8R56U": {"unit": "Quantity", "pricePerUnit": {"USD": "9999"}}}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z"})


def test_parse_price_list_reads_on_demand_hourly_prices_only():
    documents = [price_document("c5n.18xlarge", "4.3920000000"), price_document("m5.xlarge", "0.2140000000")]
    assert parse_price_list(documents) == {"c5n.18xlarge": 4.392, "m5.xlarge": 0.214}


class StubbedSession:
    """A boto3 session whose pricing client answers from a botocore Stubber (requests checked against the
    service model, no network)."""

    def __init__(self) -> None:
        self.client_ = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y").client(
            "pricing", region_name="us-east-1")
        self.stubber = Stubber(self.client_)

    def client(self, service: str, region_name: str) -> Any:
        assert (service, region_name) == ("pricing", "us-east-1")
        return self.client_


def test_live_prices_ask_the_pricing_api_per_instance_type_and_override_the_table():
    session = StubbedSession()
    for instance_type, usd in (("c5n.18xlarge", "4.0000000000"), ("c5n.large", "0.1111000000")):
        session.stubber.add_response(
            "get_products", {"FormatVersion": "aws_v1", "PriceList": [price_document(instance_type, usd)]},
            {"ServiceCode": "AmazonEC2", "Filters": product_filters("us-east-1", instance_type)})
    with session.stubber:
        result = plan(aws_env(), lambda: sample_program(4), session=session)
    session.stubber.assert_no_pending_responses()
    fleet = next(line for line in result.cost.lines if line.item.startswith("c5n.18xlarge"))
    assert fleet.per_hour_usd == pytest.approx(16.0)
    assert result.cost.source.startswith("AWS Pricing API ")
    assert {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"} in product_filters("x", "y")


def test_fetch_instance_prices_follows_pagination():
    session = StubbedSession()
    filters = product_filters("eu-west-1", "m5.xlarge")
    session.stubber.add_response("get_products", {"PriceList": [], "NextToken": "t"},
                                 {"ServiceCode": "AmazonEC2", "Filters": filters})
    session.stubber.add_response("get_products", {"PriceList": [price_document("m5.xlarge", "0.214")]},
                                 {"ServiceCode": "AmazonEC2", "Filters": filters, "NextToken": "t"})
    with session.stubber:
        assert fetch_instance_prices(session, "eu-west-1", ["m5.xlarge", "m5.xlarge"]) == {"m5.xlarge": 0.214}


# --- the plan -------------------------------------------------------------------------------------------

def test_plan_findings_include_an_imdsv1_instance():
    result = plan(aws_env(), lambda: sample_program(4, imds_v1_head=True))
    assert [(f.rule, f.severity, f.resource) for f in result.findings] == [("imdsv2-required", "error", "hpc-head")]
    assert plan(aws_env(), lambda: sample_program(4)).findings == []


def test_plan_findings_start_with_the_spec():
    result = plan(aws_env(compute={"count": 2, "instance_type": "t3.micro", "networking": "rdma"}),
                  lambda: sample_program(2))
    assert [(f.rule, f.resource) for f in result.findings] == [("efa-unsupported", "compute.instance_type")]


def test_a_refusing_component_ends_the_plan_with_its_reason():
    def refusing_program() -> None:
        refuse(check_ssh_cidr("0.0.0.0/0", allow_world=False))

    result = plan(aws_env(ssh={"allowed_cidr": "0.0.0.0/0"}), refusing_program)
    assert result.resources == [] and [(f.rule, f.severity) for f in result.findings] == [("ssh-world-open", "error")]
    with pytest.raises(SecurityViolation):  # evaluate itself lets the refusal through
        evaluate(refusing_program, project="p", stack="s")


def test_json_shape():
    document = as_json(plan(aws_env(), lambda: sample_program(4, imds_v1_head=True)))
    assert list(document) == ["resources", "cost", "findings"]
    assert all(list(r) == ["type", "name", "inputs"] for r in document["resources"])
    assert {"type": "aws:ec2/natGateway:NatGateway", "name": "hpc-nat",
            "inputs": {"allocationId": "hpc-nat-ip-id", "subnetId": "subnet-0a1b2c3d"}} in document["resources"]
    assert list(document["cost"]) == ["per_hour_usd", "per_day_usd", "lines"]
    assert document["cost"]["per_hour_usd"] == round(expected_per_hour(4), 6)
    assert document["cost"]["per_day_usd"] == round(24 * expected_per_hour(4), 6)
    assert list(document["cost"]["lines"][0]) == ["resource", "type", "item", "quantity", "unit", "unit_usd",
                                                  "per_hour_usd", "per_day_usd", "note"]
    assert document["findings"][0]["rule"] == "imdsv2-required"
    assert list(document["findings"][0]) == ["rule", "severity", "resource", "message"]
    assert json.loads(json.dumps(document)) == document


def test_render_prints_the_tree_the_findings_and_the_cost():
    console = Console(record=True, width=200)
    render(plan(aws_env(), lambda: sample_program(4, imds_v1_head=True)), console)
    text = console.export_text()
    assert "hpc (aws, us-east-1): 9 resources" in text
    assert ("└── hpc cloud-hpc-toolkit:test:SampleCluster\n    ├── hpc-compute aws:autoscaling/group:Group\n"
            "    ├── hpc-head aws:ec2/instance:Instance ✗\n") in text  # the component's children, the flagged one
    assert "imdsv2-required" in text
    assert f"{expected_per_hour(4):,.4f}" in text and f"{24 * expected_per_hour(4):,.4f}" in text
