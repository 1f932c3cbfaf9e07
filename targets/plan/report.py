"""``invoke plan``: what a spec would declare, what the security rules say about it and what it would cost,
without credentials, network or the Pulumi CLI (the program runs under mocks, see ``mock_run``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from components.security import Finding, SecurityViolation, check_environment, check_resource
from spec.environment import Environment
from spec.environment import Network as NetworkSpec
from targets.plan.cost import Cost, CostLine, estimate
from targets.plan.cost_azure import estimate_azure
from targets.plan.mock_run import PlannedResource, evaluate
from targets.plan.prices import (
    AzurePrices,
    PriceError,
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

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]


def plan(env: Environment, program: Callable[[], object], *, prices: RegionPrices | AzurePrices | None = None,
         session: boto3.Session | None = None) -> Plan:
    """Evaluate ``program`` (the Pulumi program for ``env``) offline, judge it and price it.

    ``prices`` replaces the offline table of the region (``RegionPrices`` for AWS, ``AzurePrices`` for Azure);
    ``session`` (``--live-prices``, AWS only) asks the AWS Pricing API for the planned instance types. A
    component that refuses the spec (``SecurityViolation``) ends the evaluation: the plan then has the spec's
    findings and the refusal, and no resources."""
    region = env.region or "us-east-1"
    findings = check_environment(env)
    try:
        resources = evaluate(program, project=PROJECT, stack=env.name, region=region,
                             subnets=existing_subnets(env.network, region))
    except SecurityViolation as refusal:
        if str(refusal) not in {finding.line() for finding in findings}:
            findings.append(Finding("refused", "error", "program", str(refusal)))
        resources = []
    findings += [finding for resource in resources if resource.custom
                 for finding in check_resource(resource.type, resource.inputs, resource.name)]
    if session is not None and env.target != "aws":
        raise PriceError(f"--live-prices asks the AWS Pricing API; a {env.target} plan is priced from its offline "
                         "table only (drop --live-prices)")
    cost = None
    if env.target == "azure":
        cost = estimate_azure(resources, prices if isinstance(prices, AzurePrices) else load_azure_prices(region))
    elif env.target == "aws":
        table = prices if isinstance(prices, RegionPrices) else load_prices(region)
        if session is not None:
            live = fetch_instance_prices(session, region, instance_types(resources))
            table = table.with_instances(live, f"AWS Pricing API {date.today().isoformat()}")
        cost = estimate(resources, table)
    return Plan(env, region, resources, findings, cost, volume_notes(env))


def existing_subnets(network: NetworkSpec, region: str) -> dict[str, dict[str, str]]:
    """``getSubnet`` answers for an existing VPC: its subnets, one zone each in the order given (the plan
    cannot look them up; the deployment checks the real ones)."""
    if not network.vpc_id:
        return {}
    return {subnet_id: {"vpcId": network.vpc_id, "availabilityZone": f"{region}{ZONE_LETTERS[index % 6]}"}
            for ids in (network.public_subnet_ids, network.private_subnet_ids)
            for index, subnet_id in enumerate(ids)}


def instance_types(resources: list[PlannedResource]) -> set[str]:
    """Every ``instanceType`` input anywhere in the plan (instances, launch templates, overrides, EMR)."""

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "instanceType" and isinstance(item, str):
                    yield item
                else:
                    yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    return {found for resource in resources for found in walk(resource.inputs)}


def as_json(result: Plan) -> dict[str, Any]:
    cost = result.cost.as_json() if result.cost else {"per_hour_usd": None, "per_day_usd": None,
                                                      "per_month_usd": None, "lines": []}
    return {
        "resources": [{"type": r.type, "name": r.name, "inputs": r.inputs} for r in result.resources],
        "cost": cost,
        "findings": [{"rule": f.rule, "severity": f.severity, "resource": f.resource, "message": f.message}
                     for f in result.findings],
        "notes": result.notes,
    }


def render(result: Plan, console: Console) -> None:
    console.print(_tree(result))
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    console.print(_findings(result.findings))
    if result.cost is not None:
        console.print(_cost(result.cost))


def _tree(result: Plan) -> Tree:
    flagged: dict[str, str] = {}
    for finding in result.findings:
        if flagged.get(finding.resource) != "error":
            flagged[finding.resource] = finding.severity
    tree = Tree(f"[bold]{result.env.name}[/] ({result.env.target}, {result.region}): "
                f"{sum(r.custom for r in result.resources)} resources")
    nodes: dict[str, Tree] = {}
    for resource in result.resources:  # parents come first
        mark = {"error": " [red]✗[/]", "warning": " [yellow]![/]"}.get(flagged.get(resource.name, ""), "")
        label = (f"{resource.name} [dim]{resource.type}[/]{mark}" if resource.custom
                 else f"[bold]{resource.name}[/] [cyan]{resource.type}[/]{mark}")
        nodes[resource.urn] = nodes.get(resource.parent, tree).add(label)
    return tree


def _findings(findings: list[Finding]) -> Table | str:
    if not findings:
        return "[green]security: no findings[/]"
    table = Table(title="security findings", title_justify="left")
    for column in ("severity", "rule", "resource", "message"):
        table.add_column(column, overflow="fold")
    for finding in sorted(findings, key=lambda f: f.severity != "error"):
        severity = "[red]error[/]" if finding.severity == "error" else "[yellow]warning[/]"
        table.add_row(severity, finding.rule, finding.resource, finding.message)
    return table


def _usd(value: float | None) -> str:
    return "—" if value is None else f"{value:,.4f}"


def _shared_notes(lines: Sequence[CostLine]) -> set[str]:
    """The note parts every priced line carries (a whole table priced from another region's rates): said once
    under the table rather than on each line."""
    parts = [set((line.note or "").split("; ")) for line in lines if line.per_hour_usd is not None]
    return set.intersection(*parts) - {""} if parts else set()


def _cost(cost: Cost) -> Table:
    unpriced = f"; {len(cost.unpriced)} line(s) not priced (no price: left out of the total)" if cost.unpriced else ""
    shared = _shared_notes(cost.lines)
    table = Table(title="cost while running (USD)", title_justify="left", caption_justify="left",
                  caption=f"prices: {cost.source}; a month is {cost.hours_per_month:g} hours{unpriced}"
                          + (f"\nevery line: {'; '.join(sorted(shared))}" if shared else ""))
    numbers = ("quantity", "unit price", "per hour", "per day", "per month")
    for column in ("resource", "item", *numbers, "note"):
        table.add_column(column, justify="right" if column in numbers else "left", overflow="fold")
    for line in cost.lines:
        per_month = None if line.per_hour_usd is None else line.per_hour_usd * cost.hours_per_month
        table.add_row(line.resource, line.item, f"{line.quantity:g} {line.unit}", _usd(line.unit_usd),
                      _usd(line.per_hour_usd), _usd(line.per_day_usd), _usd(per_month),
                      "; ".join(part for part in (line.note or "").split("; ") if part and part not in shared)
                      or ("" if line.per_hour_usd is not None else "not priced"))
    table.add_row("[bold]total[/]", "", "", "", f"[bold]{_usd(cost.per_hour_usd)}[/]",
                  f"[bold]{_usd(cost.per_day_usd)}[/]", f"[bold]{_usd(cost.per_month_usd)}[/]", "")
    return table
