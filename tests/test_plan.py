"""The offline plan: evaluating a real pulumi_aws program under the plan's mocks, pricing it, judging it,
and the JSON it prints. Until ``stacks`` provides the real program, a small program of real resources
(head instance, launch template + Auto Scaling group, EBS volume, NAT gateway, EFS, a Fargate service)
stands in; ``benchmarks/plan.py`` uses it too."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pulumi_aws as aws
import pulumi_azure_native.containerinstance as containerinstance
import pulumi_azure_native.hdinsight as hdinsight
import pytest
from botocore.stub import Stubber
from rich.console import Console

from components.aws.emr_cluster import fleet, group
from components.security import SecurityViolation, refuse
from spec.environment import Environment
from spec.errors import SpecError
from spec.loader import load_stack_config
from spec.ssh_networks import check_ssh_cidr
from stacks.azure import build as build_azure
from targets.plan.cost import estimate
from targets.plan.cost_azure import estimate_azure
from targets.plan.mock_run import SECRET, UnmockedCall, evaluate
from targets.plan.prices import (
    PriceError,
    fetch_instance_prices,
    load_azure_prices,
    load_prices,
    parse_price_list,
    product_filters,
)
from targets.plan.report import as_json, plan, render
from tests.aws.mocks import RecordingMocks

HOURS_PER_MONTH = 730
ROOT = Path(__file__).resolve().parents[1]
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


def test_plan_findings_start_with_the_spec_s_warnings():
    result = plan(aws_env(ssh={"allowed_cidr": "0.0.0.0/0", "allow_world": True}), lambda: sample_program(2))
    assert (result.findings[0].rule, result.findings[0].severity, result.findings[0].resource) == (
        "ssh-world-open", "warning", "ssh.allowed_cidr")


def test_a_component_refusing_the_spec_is_a_spec_error_and_nothing_is_planned():
    def refusing_program() -> None:
        refuse(check_ssh_cidr("0.0.0.0/0", allow_world=False))

    with pytest.raises(SpecError, match=r"^spec error: refused by the program: \[ssh-world-open\] ssh\.allowed_cidr: "
                                        r"SSH ingress from 0\.0\.0\.0/0 is open to the whole internet; "):
        plan(aws_env(), refusing_program)
    with pytest.raises(SecurityViolation):  # evaluate itself lets the refusal through
        evaluate(refusing_program, project="p", stack="s")


def test_json_shape():
    document = as_json(plan(aws_env(), lambda: sample_program(4, imds_v1_head=True)))
    assert list(document) == ["resources", "cost", "findings", "notes", "partitions"]
    assert all(list(r) == ["type", "name", "inputs"] for r in document["resources"])
    assert {"type": "aws:ec2/natGateway:NatGateway", "name": "hpc-nat",
            "inputs": {"allocationId": "hpc-nat-ip-id", "subnetId": "subnet-0a1b2c3d"}} in document["resources"]
    assert list(document["cost"]) == ["per_hour_usd", "per_day_usd", "per_month_usd", "hours_per_month", "source",
                                      "lines"]
    assert document["cost"]["per_hour_usd"] == round(expected_per_hour(4), 6)
    assert document["cost"]["per_day_usd"] == round(24 * expected_per_hour(4), 6)
    assert document["cost"]["per_month_usd"] == round(HOURS_PER_MONTH * expected_per_hour(4), 6)
    assert document["cost"]["source"] == "offline table recorded 2026-11-22"
    assert list(document["cost"]["lines"][0]) == ["resource", "type", "item", "quantity", "unit", "unit_usd",
                                                  "per_hour_usd", "per_day_usd", "note"]
    by_resource = {(line["resource"], line["item"]): line for line in document["cost"]["lines"]}
    nat = by_resource[("hpc-nat", "NAT gateway")]
    assert (nat["per_hour_usd"], nat["per_day_usd"]) == (round(NAT_HOUR, 6), round(24 * NAT_HOUR, 6))
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
    assert "error imdsv2-required (hpc-head): instance metadata accepts IMDSv1" in text
    assert (f"total (USD): {expected_per_hour(4):,.2f} an hour, {24 * expected_per_hour(4):,.2f} a day, "
            f"{HOURS_PER_MONTH * expected_per_hour(4):,.2f} a month") in text
    assert "prices: offline table recorded 2026-11-22; a month is 730 hours" in text


# --- EMR (fleets, groups, task nodes) -------------------------------------------------------------------

M5_XLARGE = 0.192


def emr_program(fleets: bool) -> None:
    nodes = ({"master_instance_fleet": fleet("primary", "m5.xlarge", 1, spot=False),
              "core_instance_fleet": fleet("core", "m5.xlarge", 3, spot=False)} if fleets else
             {"master_instance_group": group("primary", "m5.xlarge", 1, spot=False),
              "core_instance_group": group("core", "m5.xlarge", 3, spot=False)})
    cluster = aws.emr.Cluster("spark", release_label="emr-7.5.0", service_role="role", applications=["Spark"],
                              ec2_attributes={"instance_profile": "profile", "subnet_id": "subnet-0a1b2c3d"}, **nodes)
    task = (aws.emr.InstanceFleet if fleets else aws.emr.InstanceGroup)
    task("spark-task", cluster_id=cluster.id, **(fleet if fleets else group)("task", "m5.xlarge", 5, spot=True))


@pytest.mark.parametrize(("fleets", "kind"), [(True, "fleet"), (False, "group")])
def test_emr_fleets_groups_and_task_nodes_are_priced(fleets: bool, kind: str):
    cost = estimate(evaluate(lambda: emr_program(fleets), project="p", stack="s"), load_prices("us-east-1"))
    lines = {line.item: line for line in cost.lines}
    assert lines[f"m5.xlarge on-demand × 1 (EMR primary {kind})"].per_hour_usd == M5_XLARGE
    assert lines[f"m5.xlarge on-demand × 3 (EMR core {kind})"].per_hour_usd == pytest.approx(3 * M5_XLARGE)
    task = lines[f"m5.xlarge on-demand × 5 (EMR task {kind})"]
    assert task.per_hour_usd == pytest.approx(5 * M5_XLARGE) and "priced at on-demand" in task.note
    assert "EMR per-instance fee is not included" in task.note
    assert cost.per_hour_usd == pytest.approx(9 * M5_XLARGE) and cost.unpriced == []


def test_emr_fleet_counts_units_of_weighted_capacity():
    spec = {**fleet("core", "m5.xlarge", 8, spot=False),
            "instance_type_configs": [{"instance_type": "m5.xlarge", "weighted_capacity": 4}]}
    resources = evaluate(lambda: aws.emr.InstanceFleet("f", cluster_id="j-1", **spec), project="p", stack="s")
    [line] = estimate(resources, load_prices("us-east-1")).lines
    assert (line.quantity, line.per_hour_usd) == (2, pytest.approx(2 * M5_XLARGE))


# --- Azure ------------------------------------------------------------------------------------------------

# eastus figures of targets/plan/prices_azure.json (westeurope takes them too), written out by hand
HB120RS_V3, D4S_V5, STANDARD_SSD_64 = 3.6, 0.192, 4.8
PREMIUM_V2_GIB, PREMIUM_V2_IOPS, PREMIUM_V2_MBPS = 0.08, 0.005, 0.04
FILES_PREMIUM_GIB, AZURE_IP_HOUR, AZURE_NAT_HOUR, ACI_VCPU_S, ACI_GB_S = 0.16, 0.005, 0.045, 0.0000135, 0.0000015
E8_V3, E16_V3, HDINSIGHT_E8_V3, HDINSIGHT_E16_V3 = 0.504, 1.008, 0.2, 0.4
AZURE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6 plan"


def azure_stack() -> Environment:
    return load_stack_config("azure-hpc-dev", ROOT)


def azure_expected_per_hour() -> float:
    """Pulumi.azure-hpc-dev.yaml: a D4s_v5 head, 4 HB120rs_v3 nodes, 64 GiB Standard SSD OS disks, a 512 GiB
    Premium SSD v2 scratch disk at 6000 IOPS and 250 MB/s, a 100 GiB premium share, two public IPs, a NAT."""
    monthly = (5 * STANDARD_SSD_64 + 512 * PREMIUM_V2_GIB + (6000 - 3000) * PREMIUM_V2_IOPS
               + (250 - 125) * PREMIUM_V2_MBPS + 100 * FILES_PREMIUM_GIB)
    return D4S_V5 + 4 * HB120RS_V3 + 2 * AZURE_IP_HOUR + AZURE_NAT_HOUR + monthly / HOURS_PER_MONTH


def test_azure_stack_plan_prices_vms_scale_set_disks_share_ips_and_nat():
    env = azure_stack()
    result = plan(env, lambda: build_azure(env, AZURE_KEY))
    lines = {(line.resource, line.item): line for line in result.cost.lines}
    head = lines[("azure-hpc-dev-head", "Standard_D4s_v5 pay-as-you-go")]
    assert (head.quantity, head.per_hour_usd) == (1, D4S_V5)
    nodes = lines[("azure-hpc-dev-compute", "Standard_HB120rs_v3 pay-as-you-go × 4 always on (partition compute)")]
    assert (nodes.quantity, nodes.per_hour_usd) == (4, pytest.approx(4 * HB120RS_V3))
    node_disks = lines[("azure-hpc-dev-compute", "StandardSSD_LRS OS disk × 4, 64 GiB each")]
    assert node_disks.per_hour_usd == pytest.approx(4 * STANDARD_SSD_64 / HOURS_PER_MONTH)
    assert "billed as the 64 GiB tier" in node_disks.note
    assert ("azure-hpc-dev-head", "StandardSSD_LRS OS disk, 64 GiB") in lines
    assert lines[("azure-hpc-dev-scratch", "PremiumV2_LRS IOPS above 3000")].quantity == 3000
    assert lines[("azure-hpc-dev-scratch", "PremiumV2_LRS throughput above 125 MB/s")].quantity == 125
    share = lines[("azure-hpc-dev-share", "premium Azure Files share, 100 GiB provisioned")]
    assert share.per_hour_usd == pytest.approx(100 * FILES_PREMIUM_GIB / HOURS_PER_MONTH)
    assert [line.resource for line in result.cost.lines if line.item == "Standard public IP address"] == [
        "azure-hpc-dev-nat-ip", "azure-hpc-dev-head-ip"]
    assert "/GB processed, not estimated" in lines[("azure-hpc-dev-nat", "NAT gateway")].note
    assert result.cost.unpriced == []
    assert result.cost.per_hour_usd == pytest.approx(azure_expected_per_hour(), rel=1e-12)
    assert result.cost.per_month_usd == pytest.approx(HOURS_PER_MONTH * azure_expected_per_hour(), rel=1e-12)
    # westeurope has no figures of its own: every line says it is priced at eastus's
    assert all("approximate: eastus rate" in line.note for line in result.cost.lines)
    assert result.cost.source == "offline Azure table as of 2026-11-22 (westeurope)"
    assert [(f.rule, f.severity) for f in result.findings] == [("azure-https-only", "warning")]


def test_azure_custom_data_is_shown_and_only_the_key_vaults_secrets_are_redacted():
    env = azure_stack()
    resources = evaluate(lambda: build_azure(env, AZURE_KEY), project="p", stack="s", region="westeurope")
    head = next(r for r in resources if r.type == "azure-native:compute:VirtualMachine")
    profile = head.inputs
    assert gzip.decompress(base64.b64decode(profile["osProfile"]["customData"])).startswith(b"#cloud-config\n")
    assert profile["osProfile"]["adminUsername"] == "azureuser"
    assert profile["storageProfile"]["osDisk"]["managedDisk"] == {"storageAccountType": "StandardSSD_LRS"}
    share = next(r for r in resources if r.type == "azure-native:storage:FileShare")
    account = next(r for r in resources if r.type == "azure-native:storage:StorageAccount")
    assert share.inputs["accountName"] == account.inputs["accountName"]  # the account's Azure name, not its URN name
    secrets = [r for r in resources if r.type == "azure-native:keyvault:Secret"]
    assert [r.inputs["properties"]["value"] for r in secrets] == [SECRET, SECRET]
    assert "[secret]" not in json.dumps([r.inputs for r in resources if r not in secrets])


def test_container_group_is_priced_per_vcpu_and_gb_running_all_month():
    def program() -> None:
        containerinstance.ContainerGroup(
            "jobs", resource_group_name="rg", os_type="Linux", containers=[
                containerinstance.ContainerArgs(name="app", image="python:3.12", resources=containerinstance.
                                                ResourceRequirementsArgs(requests=containerinstance.ResourceRequestsArgs(
                                                    cpu=1.5, memory_in_gb=3))),
                containerinstance.ContainerArgs(name="sidecar", image="busybox", resources=containerinstance.
                                                ResourceRequirementsArgs(requests=containerinstance.ResourceRequestsArgs(
                                                    cpu=0.5, memory_in_gb=1)))])

    cost = estimate_azure(evaluate(program, project="p", stack="s"), load_azure_prices("eastus"))
    [line] = cost.lines
    assert line.item == "container group (2 vCPU, 4 GB), running all the time"
    assert line.per_hour_usd == pytest.approx((2 * ACI_VCPU_S + 4 * ACI_GB_S) * 3600)
    assert cost.per_month_usd == pytest.approx((2 * ACI_VCPU_S + 4 * ACI_GB_S) * 3600 * HOURS_PER_MONTH)
    assert "approximate" in line.note  # the service rates are transcribed, not read from the API


def test_hdinsight_cluster_is_priced_per_role_as_vms_plus_the_hdinsight_fee():
    def role(name: str, count: int, size: str) -> hdinsight.RoleArgs:
        return hdinsight.RoleArgs(name=name, target_instance_count=count,
                                  hardware_profile=hdinsight.HardwareProfileArgs(vm_size=size))

    def program() -> None:
        hdinsight.Cluster("spark", resource_group_name="rg", properties=hdinsight.ClusterCreatePropertiesArgs(
            compute_profile=hdinsight.ComputeProfileArgs(roles=[
                role("headnode", 2, "Standard_E8_v3"), role("workernode", 3, "Standard_E16_v3"),
                role("zookeepernode", 3, "Standard_A2_v2")])))

    cost = estimate_azure(evaluate(program, project="p", stack="s"), load_azure_prices("eastus"))
    lines = {line.item: line for line in cost.lines}
    assert lines["Standard_E8_v3 pay-as-you-go × 2 (HDInsight headnode)"].per_hour_usd == pytest.approx(2 * E8_V3)
    assert lines["Standard_E16_v3 pay-as-you-go × 3 (HDInsight workernode)"].per_hour_usd == pytest.approx(3 * E16_V3)
    assert lines["HDInsight fee, Standard_E8_v3 × 2 (headnode)"].per_hour_usd == pytest.approx(2 * HDINSIGHT_E8_V3)
    assert lines["HDInsight fee, Standard_E16_v3 × 3 (workernode)"].per_hour_usd == pytest.approx(3 * HDINSIGHT_E16_V3)
    [unpriced] = cost.unpriced  # no fee known for the zookeeper size: listed, left out of the total
    assert unpriced.item == "HDInsight fee, Standard_A2_v2 × 3 (zookeepernode)" and "not priced" in unpriced.note
    assert cost.per_hour_usd == pytest.approx(2 * (E8_V3 + HDINSIGHT_E8_V3) + 3 * (E16_V3 + HDINSIGHT_E16_V3)
                                              + 3 * 0.0903)


def test_azure_sizes_and_disks_the_table_lacks_are_not_priced_but_listed():
    import pulumi_azure_native.compute as compute

    def program() -> None:
        compute.VirtualMachine("vm", resource_group_name="rg",
                               hardware_profile=compute.HardwareProfileArgs(vm_size="Standard_D4s_v6"))
        compute.Disk("big", resource_group_name="rg", sku=compute.DiskSkuArgs(name="Premium_LRS"), disk_size_gb=40000,
                     creation_data=compute.CreationDataArgs(create_option="Empty"))
        compute.Disk("p10", resource_group_name="rg", sku=compute.DiskSkuArgs(name="Premium_LRS"), disk_size_gb=100,
                     creation_data=compute.CreationDataArgs(create_option="Empty"))

    cost = estimate_azure(evaluate(program, project="p", stack="s"), load_azure_prices("eastus"))
    assert sorted(line.note for line in cost.unpriced) == [
        "no offline price for Premium_LRS disks of 40000 GiB: not priced",
        "no offline price for Standard_D4s_v6 in eastus: not priced"]
    [p10] = [line for line in cost.lines if line.resource == "p10"]
    assert (p10.unit_usd, p10.note.split(";")[0]) == (19.71, "billed as the 128 GiB tier")
    with pytest.raises(PriceError, match="no offline Azure prices for location norwayeast"):
        load_azure_prices("norwayeast")


def test_azure_table_is_dated_sourced_and_says_what_is_approximate():
    data = json.loads((ROOT / "targets/plan/prices_azure.json").read_text())
    assert data["as_of"] == "2026-11-22" and "Azure Retail Prices API" in data["source"]
    assert "skypilot-catalog" in data["_source"]["vm_hour"] and "eastus" in data["_source"]["vm_hour"]
    eastus = load_azure_prices("eastus")
    assert eastus.note("Standard_HB120rs_v3") == ""  # read from the catalog
    assert eastus.note("Standard_D2s_v5").startswith("approximate")  # derived from the series' rate
    assert all(eastus.note(entry) for entry in ("hdinsight_node_hour", "aci_vcpu_second", "premium_ssd_month"))
    sizes = set(json.loads((ROOT / "spec/vm_sizes.json").read_text())["sizes"])
    assert {"Standard_HB120rs_v3", "Standard_HC44rs", "Standard_ND96isr_H100_v5", "Standard_F72s_v2"} <= (
        set(eastus.vm_hour) & sizes)


def test_an_azure_size_the_component_refuses_is_a_spec_error_with_the_component_s_line():
    env = azure_stack().model_copy(deep=True)  # past the spec's own check, which refuses the same line as it loads
    env.slurm_partitions[0].instance_type, env.slurm_partitions[0].networking = "Standard_D16s_v5", "rdma"
    with pytest.raises(SpecError, match=r"^spec error: refused by the program: \[azure-rdma-unsupported\] "
                                        r"compute\.instance_type: Standard_D16s_v5 has no InfiniBand"):
        plan(env, lambda: build_azure(env, AZURE_KEY))


def test_render_of_an_azure_plan_shows_the_month_and_the_tables_date():
    env = azure_stack()
    console = Console(record=True, width=250)
    render(plan(env, lambda: build_azure(env, AZURE_KEY)), console)
    text = console.export_text()
    assert "prices: offline Azure table as of 2026-11-22 (westeurope); a month is 730 hours" in text
    assert f"{HOURS_PER_MONTH * azure_expected_per_hour():,.2f} a month" in text
    assert "Standard_HB120rs_v3 pay-as-you-go × 4" in text
    # every line is priced from eastus rates: said once under the table, not on each line
    assert text.count("eastus rate") == 1 and "every line: approximate: eastus rate" in text
    assert text.count("billed as the 64 GiB tier") == 1 and text.count("transactions not estimated") == 1


@pytest.mark.parametrize(("stack", "item"), [
    ("azure-containers-dev", "container group (1 vCPU, 1.5 GB), running all the time"),
    ("azure-spark-dev", "HDInsight fee, Standard_E8_v3 × 3 (workernode)")])
def test_the_other_azure_stacks_plan_offline_and_are_priced(stack: str, item: str):
    env = load_stack_config(stack, ROOT)
    result = plan(env, lambda: build_azure(env, AZURE_KEY))
    assert item in [line.item for line in result.cost.lines] and result.errors == []
    assert result.cost.per_month_usd == pytest.approx(result.cost.per_hour_usd * HOURS_PER_MONTH)
