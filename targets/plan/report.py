"""``invoke plan``: what a spec would declare, what the security rules say about it and what it would cost,
without credentials, network or the Pulumi CLI (the program runs under mocks, see ``mock_run``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from components.security import SecurityViolation, check_resource
from spec.environment import Environment
from spec.environment import Network as NetworkSpec
from spec.errors import SpecError
from spec.findings import Finding
from spec.verdict import spec_findings
from targets.plan.azure_retail_prices import RETAIL_PRICES_URL, fetch_vm_prices
from targets.plan.cost import Cost, as_map, estimate
from targets.plan.cost_azure import estimate_azure
from targets.plan.cost_view import cost_view
from targets.plan.mock_run import PlannedResource, evaluate
from targets.plan.partition_cost import PartitionCost, partition_costs
from targets.plan.prices import (
    AzurePrices,
    RegionPrices,
    fetch_instance_prices,
    load_azure_prices,
    load_prices,
)
from targets.plan.volume_notes import volume_notes

if TYPE_CHECKING:
    import boto3

PROJECT = "cloud-hpc-toolkit"
ZONE_LETTERS = "abcdef"


@dataclass(frozen=True)
class Plan:
    env: Environment
    region: str
    resources: list[PlannedResource]
    findings: list[Finding]
    cost: Cost | None  # None for the local target, which costs nothing
    notes: list[str]  # what up and destroy do with the volumes beyond what the resources show (volume_notes)
    partitions: list[PartitionCost] = field(default_factory=list)  # each Slurm partition at its min and its max

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]


def plan(env: Environment, program: Callable[[], object], *, prices: RegionPrices | AzurePrices | None = None,
         live: bool = False, session: boto3.Session | None = None,
         retail_prices_url: str = RETAIL_PRICES_URL) -> Plan:
    """Evaluate ``program`` (the Pulumi program for ``env``) offline, judge it and price it.

    ``prices`` replaces the offline table of the region (``RegionPrices`` for AWS, ``AzurePrices`` for Azure).
    ``live`` (``--live-prices``) asks today's prices of the planned instance types: on AWS the Pricing API through
    ``session`` (default: boto3's own credentials), on Azure the Retail Prices API at ``retail_prices_url`` (tests
    point it at a local server). ``env`` passed the spec's own rules as it loaded, so its findings are warnings; a
    component that still refuses it (``SecurityViolation``) refuses the spec: a ``SpecError``, nothing planned or
    priced."""
    region = env.region or "us-east-1"
    findings = spec_findings(env)
    try:
        resources = evaluate(program, project=PROJECT, stack=env.name, region=region,
                             subnets=existing_subnets(env.network, region))
    except SecurityViolation as refusal:
        raise SpecError(f"spec error: refused by the program: {refusal}") from None
    findings += [finding for resource in resources if resource.custom
                 for finding in check_resource(resource.type, resource.inputs, resource.name)]
    today = date.today().isoformat()
    cost, partitions = None, []
    if env.target == "azure":
        table = prices if isinstance(prices, AzurePrices) else load_azure_prices(region)
        if live and resources:
            live_vms = fetch_vm_prices(region, vm_sizes(resources), retail_prices_url)
            table = table.with_vms(live_vms, f"Azure Retail Prices API {today} (VM sizes)")
        cost, partitions = estimate_azure(resources, table), partition_costs(env, table)
    elif env.target == "aws":
        aws_table = prices if isinstance(prices, RegionPrices) else load_prices(region)
        if (live or session is not None) and resources:
            live_types = fetch_instance_prices(session or _default_session(region), region, instance_types(resources))
            aws_table = aws_table.with_instances(live_types, f"AWS Pricing API {today}")
        cost, partitions = estimate(resources, aws_table), partition_costs(env, aws_table)
    return Plan(env, region, resources, findings, cost, volume_notes(env), partitions)


def _default_session(region: str) -> boto3.Session:
    import boto3

    return boto3.Session(region_name=region)


def existing_subnets(network: NetworkSpec, region: str) -> dict[str, dict[str, str]]:
    """``getSubnet`` answers for an existing VPC: its subnets, one zone each in the order given (the plan
    cannot look them up; the deployment checks the real ones)."""
    if not network.vpc_id:
        return {}
    return {subnet_id: {"vpcId": network.vpc_id, "availabilityZone": f"{region}{ZONE_LETTERS[index % 6]}"}
            for ids in (network.public_subnet_ids, network.private_subnet_ids)
            for index, subnet_id in enumerate(ids)}


def instance_types(resources: list[PlannedResource]) -> set[str]:
    """Every ``instanceType`` input anywhere in an AWS plan (instances, launch templates, overrides, EMR)."""
    return _inputs_named("instanceType", resources)


def vm_sizes(resources: list[PlannedResource]) -> set[str]:
    """Every ``vmSize`` input anywhere in an Azure plan (VMs, HDInsight roles); a scale set names its size in
    ``sku.name``, a partition's in its ``chpc:vm-size`` tag."""
    scale_sets = {str(as_map(r.inputs.get("sku")).get("name") or as_map(r.inputs.get("tags")).get("chpc:vm-size"))
                  for r in resources if r.type == "azure-native:compute:VirtualMachineScaleSet"}
    return _inputs_named("vmSize", resources) | scale_sets - {"None"}


def _inputs_named(key: str, resources: list[PlannedResource]) -> set[str]:
    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for name, item in value.items():
                if name == key and isinstance(item, str):
                    yield item
                else:
                    yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    return {found for resource in resources for found in walk(resource.inputs)}


def as_json(result: Plan) -> dict[str, Any]:
    """The plan for scripts."""
    cost = result.cost.as_json() if result.cost else {"per_hour_usd": None, "per_day_usd": None,
                                                      "per_month_usd": None, "lines": []}
    return {
        "resources": [{"type": r.type, "name": r.name, "inputs": r.inputs} for r in result.resources],
        "cost": cost,
        "findings": [{"rule": f.rule, "severity": f.severity, "resource": f.resource, "message": f.message}
                     for f in result.findings],
        "notes": result.notes,
        "partitions": [partition.as_json() for partition in result.partitions],
    }


def render(result: Plan, console: Console, *, wide: bool = False) -> None:
    """The tree, the notes, the findings and the cost, wrapped to the console's width (a number never split):
    the console may have markup off and soft wrapping on, as the CLI's has; nothing here depends on either."""
    console.print(_tree(result), soft_wrap=False)
    for note in result.notes:
        console.print(Text(f"note: {note}"), soft_wrap=False)
    console.print(_findings(result.findings), soft_wrap=False)
    if result.cost is None:
        return
    console.print(cost_view(result.cost, wide=wide), soft_wrap=False)
    for partition in result.partitions:
        console.print(Text(partition.line()), soft_wrap=False)


def _tree(result: Plan) -> Tree:
    flagged: dict[str, str] = {}
    for finding in result.findings:
        if flagged.get(finding.resource) != "error":
            flagged[finding.resource] = finding.severity
    tree = Tree(Text.assemble((result.env.name, "bold"), f" ({result.env.target}, {result.region}): "
                              f"{sum(r.custom for r in result.resources)} resources"))
    nodes: dict[str, Tree] = {}
    for resource in result.resources:  # parents come first
        label = (Text.assemble(resource.name, " ", (resource.type, "dim")) if resource.custom
                 else Text.assemble((resource.name, "bold"), " ", (resource.type, "cyan")))
        mark = {"error": (" ✗", "red"), "warning": (" !", "yellow")}.get(flagged.get(resource.name, ""))
        if mark:
            label.append(*mark)
        nodes[resource.urn] = nodes.get(resource.parent, tree).add(label)
    return tree


def _findings(findings: list[Finding]) -> Text:
    """One entry per finding, errors first: a list rather than a table, so a long message wraps by words."""
    if not findings:
        return Text("security: no findings", style="green")
    text = Text("security findings", style="bold")
    for finding in sorted(findings, key=lambda f: f.severity != "error"):
        style = "red" if finding.severity == "error" else "yellow"
        text.append("\n")
        text.append_text(Text.assemble((finding.severity, style), f" {finding.rule} ({finding.resource}): ",
                                       finding.message))
    return text
