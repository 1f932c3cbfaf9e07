"""``invoke plan``'s text at 80 and 120 columns, for every example spec and stack, compact and ``--wide``: no line
over the width, every figure whole on one line (a split number would not be found), the total on one line, and
nothing priced for a refused spec. The console is the CLI's own (markup off, soft wrapping on)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import stacks
from cli.text_console import text_console
from spec.environment import Environment
from spec.loader import load_spec_file, load_stack_config
from targets.plan.cost import estimate
from targets.plan.cost_azure import estimate_azure
from targets.plan.cost_view import NOT_PRICED, PER_USE, unit_usd, usd
from targets.plan.prices import load_azure_prices, load_prices
from targets.plan.report import Plan, plan, render

ROOT = Path(__file__).resolve().parents[1]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6 plan"
SPECS = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "examples/specs").glob("*.yaml")
               if load_spec_file(path).target != "local")
STACKS = sorted(path.name[len("Pulumi."):-len(".yaml")] for path in ROOT.glob("Pulumi.*.yaml")
                if load_stack_config(path.name[len("Pulumi."):-len(".yaml")], ROOT).target != "local")
PLANS: dict[str, Plan] = {}


def planned(source: str) -> Plan:
    """The plan of an example spec file or stack, made once for every width and mode."""
    if source not in PLANS:
        env = load_spec_file(ROOT / source) if source.endswith(".yaml") else load_stack_config(source, ROOT)
        PLANS[source] = plan(env, lambda: stacks.build(env, KEY))
    return PLANS[source]


def rendered(result: Plan, width: int, wide: bool = False) -> str:
    out = io.StringIO()
    render(result, text_console(file=out, width=width), wide=wide)
    return out.getvalue()


def test_every_example_is_covered():
    assert SPECS == ["examples/specs/aws-elastic.yaml", "examples/specs/aws-hpc.yaml", "examples/specs/azure-hpc.yaml"]
    assert {"hpc-dev", "spark-dev", "containers-dev", "azure-hpc-dev", "azure-spark-dev"} <= set(STACKS)


@pytest.mark.parametrize(("width", "wide"), [(80, False), (120, False), (80, True), (120, True)],
                         ids=["80", "120", "80-wide", "120-wide"])
@pytest.mark.parametrize("source", SPECS + STACKS)
def test_the_plan_fits_the_width_and_every_figure_is_whole(source: str, width: int, wide: bool):
    result = planned(source)
    assert result.cost is not None and result.cost.lines, source
    text = rendered(result, width, wide)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, [line for line in lines if len(line) > width]
    cost = result.cost
    for line in cost.lines:
        if line.per_hour_usd is None or not (line.per_hour_usd or line.quantity):
            continue  # not priced, or billed by use: no figure (the next tests)
        figures = [usd(line.per_hour_usd * cost.hours_per_month)]
        if wide:
            figures += [usd(line.per_hour_usd * 24)] + ([unit_usd(line.unit_usd)] if line.unit_usd else [])
        # on the first row of its line (a wide table at 80 columns folds the name: its first 12 characters)
        start = line.resource[:12] if wide and width < 120 else f"{line.resource}: {line.item.split()[0]}"
        for figure in figures:  # a figure cut in two is not found whole
            assert any(start in row and figure in row for row in lines), (start, figure)
    assert [row for row in lines if row.startswith("total (USD): ")] == [
        f"total (USD): {usd(cost.per_hour_usd)} an hour, {usd(cost.per_day_usd)} a day, "
        f"{usd(cost.per_month_usd)} a month"]
    assert "0.0000" not in text and "[bold]" not in text and "[/]" not in text


@pytest.mark.parametrize("width", [80, 120])
def test_every_line_note_is_said_once(width: int):
    result = planned("azure-hpc-dev")  # westeurope: every line priced from eastus rates
    text = rendered(result, width)
    assert text.count("eastus rate") == 1 and "every line: approximate: eastus rate" in text
    [footnote] = [row for row in text.splitlines() if "billed as the 64 GiB tier" in row]  # two disks' note
    ref = footnote.split()[0]
    assert footnote == f"{ref} billed as the 64 GiB tier" and text.count(ref) == 3  # and the two disks' refs
    assert text.count("transactions not estimated") == 1


def test_money_has_two_decimals_and_thousands_separators():
    assert [usd(value) for value in (11352.96, 0.1, 0.004, 0.0, 1234567.891)] == [
        "11,352.96", "0.10", "<0.01", "0.00", "1,234,567.89"]
    assert [unit_usd(value) for value in (0.005, 3.888, 0.192, 2.0, 1250.5)] == [
        "0.005", "3.888", "0.192", "2.00", "1,250.50"]


def test_per_use_and_unpriced_lines_never_read_like_free():
    env = load_stack_config("hpc-dev", ROOT).model_copy(deep=True)
    env.region = "us-west-2"  # the offline table has c5n and m5 there, no c6i
    env.head.instance_type = "c6i.large"
    result = plan(env, lambda: stacks.build(env, KEY))
    assert result.cost is not None
    text = rendered(result, 80)
    [head] = [row for row in text.splitlines() if "c6i.large on-demand" in row]
    assert NOT_PRICED in head and "0.00" not in head
    [efs] = [row for row in text.splitlines() if "EFS standard storage" in row]
    assert PER_USE in efs and "0.00" not in efs
    assert "1 line(s) not priced, left out of the total" in " ".join(text.split())  # a caption wraps by words


def test_markup_like_names_print_as_they_are():
    env: Environment = load_stack_config("hpc-dev", ROOT)
    result = planned("hpc-dev")
    marked = Plan(env.model_copy(update={"name": "[bold]x[/]"}), result.region, result.resources, result.findings,
                  result.cost, ["a note with [/x] and :smile:"])
    text = rendered(marked, 80)
    assert "[bold]x[/] (aws, us-east-1)" in text and "note: a note with [/x] and :smile:" in text


def test_the_offline_tables_price_every_example_in_every_region_they_have():
    """The instance families the examples use are in every region of both tables: nothing left unpriced."""
    for source in SPECS + STACKS:
        result = planned(source)
        regions = json.loads((ROOT / f"targets/plan/prices_{result.env.target}.json").read_text())["regions"]
        assert len(regions) >= 2
        for region in regions:
            cost = (estimate(result.resources, load_prices(region)) if result.env.target == "aws"
                    else estimate_azure(result.resources, load_azure_prices(region)))
            assert [line.item for line in cost.unpriced] == [], (source, region)


def test_estimates_are_named_once_with_why():
    """eastus: some VM sizes and every service rate are estimates; one footnote says so and why, and each such
    line points to it."""
    result = planned("azure-hpc-dev")
    cost = estimate_azure(result.resources, load_azure_prices("eastus"))
    text = rendered(Plan(result.env, "eastus", result.resources, result.findings, cost, []), 80)
    [footnote] = [row for row in text.splitlines() if "approximate" in row]
    ref = footnote.split()[0]
    assert footnote.startswith(f"{ref} approximate: not an exact list price (see _source in")
    estimated = [line for line in cost.lines if "approximate" in line.note]
    assert 0 < len(estimated) < len(cost.lines)  # the HB120rs_v3 rate was read from the catalog: exact
    assert text.count(ref) == len(estimated) + 1
