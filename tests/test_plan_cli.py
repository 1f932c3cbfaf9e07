"""`invoke plan` as a user or a CI gate runs it: the real program, offline, no credentials."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "-c", "invoke_tasks", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true"})


def test_plan_json_of_the_hpc_stack() -> None:
    result = invoke("plan", "--stack", "hpc-dev", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert set(plan) == {"resources", "cost", "findings", "notes", "partitions"}
    assert [(p["name"], p["instance_type"], p["min"], p["max"]) for p in plan["partitions"]] == [
        ("compute", "c5n.18xlarge", 4, 4)]
    assert [note.split(":")[0] for note in plan["notes"]] == ["storage.volumes[0] (scratch)"]  # retained
    types = [r["type"] for r in plan["resources"]]
    assert "aws:autoscaling/group:Group" not in types and "aws:ec2/placementGroup:PlacementGroup" in types
    template = next(r for r in plan["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")
    assert template["inputs"]["metadataOptions"]["httpTokens"] == "required"
    assert template["inputs"]["networkInterfaces"][0]["interfaceType"] == "efa"
    # the user data holds no secret, so the plan shows it: a cloud-config naming the node role's secret
    head = next(r for r in plan["resources"] if r["type"] == "aws:ec2/instance:Instance")
    for text in (head["inputs"]["userData"], base64.b64decode(template["inputs"]["userData"]).decode()):
        assert text.startswith("#cloud-config\n") and "node_secrets.py aws --secret-id arn:" in text
    assert abs(plan["cost"]["per_day_usd"] - plan["cost"]["per_hour_usd"] * 24) < 0.05
    assert plan["cost"]["per_hour_usd"] > 4 * 3.8  # four c5n.18xlarge at about $3.89 an hour each
    [compute] = [line for line in plan["cost"]["lines"] if "always on" in line["item"]]
    assert compute["quantity"] == 4 and compute["item"].startswith("c5n.18xlarge on-demand × 4 always on")
    assert [f for f in plan["findings"] if f["severity"] == "error"] == []


def test_plan_of_an_invalid_spec_is_one_line_and_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("target: aws\nregion: mars-1\n")
    result = invoke("plan", "--spec", str(spec))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "spec error: region = 'mars-1': allowed: an AWS region such as us-east-1"]


@pytest.mark.skipif(shutil.which("pulumi") is not None, reason="the Pulumi CLI is installed here")
def test_up_on_aws_without_the_pulumi_cli_says_how_in_one_line() -> None:
    result = invoke("up", "--target", "aws", "--stack", "hpc-dev")
    assert result.returncode == 1
    assert "the Pulumi CLI is not installed" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_plan_of_the_azure_stack_prices_it_with_the_tables_date() -> None:
    result = invoke("plan", "--stack", "azure-hpc-dev", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    cost = plan["cost"]
    assert cost["source"] == "offline Azure table as of 2026-11-22 (westeurope)"
    assert abs(cost["per_month_usd"] - cost["per_hour_usd"] * cost["hours_per_month"]) < 0.05
    assert cost["per_hour_usd"] > 4 * 3.6  # four Standard_HB120rs_v3 at $3.60 an hour each
    items = [line["item"] for line in cost["lines"]]
    assert "Standard_HB120rs_v3 pay-as-you-go × 4 always on (partition compute)" in items
    assert "PremiumV2_LRS IOPS above 3000" in items and all(line["per_hour_usd"] is not None for line in cost["lines"])
    assert [f for f in plan["findings"] if f["severity"] == "error"] == []
    text = invoke("plan", "--stack", "azure-hpc-dev")
    assert text.returncode == 0 and "offline Azure table as of 2026-11-22" in text.stdout
    assert "a month is 730 hours" in text.stdout


def test_plan_refuses_rdma_on_an_azure_size_without_infiniband_as_a_bad_spec(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("target: azure\nregion: westeurope\nssh: {allowed_cidr: 198.51.100.0/24}\n"
                    "head: {instance_type: Standard_D4s_v5}\n"
                    "compute: {count: 2, instance_type: Standard_F72s_v2, networking: rdma}\n")
    result = invoke("plan", "--spec", str(spec), "--format", "json")
    assert (result.returncode, result.stdout) == (2, "")  # no JSON plan of what was not planned
    [line] = result.stderr.splitlines()
    assert line.startswith("spec error: compute.instance_type: Standard_F72s_v2 has no InfiniBand, so networking: "
                           "rdma cannot work; ")


@pytest.mark.parametrize("extra, expected", [
    ("", "no offline Azure prices for location norwayeast"),
    ("--live-prices", "no offline Azure prices for location norwayeast"),  # disks and the rest come from it
])
def test_what_the_plan_cannot_price_is_one_line_not_a_traceback(tmp_path: Path, extra: str, expected: str) -> None:
    spec = tmp_path / "norway.yaml"
    spec.write_text("target: azure\nregion: norwayeast\nssh: {allowed_cidr: 198.51.100.0/24}\n"
                    "head: {instance_type: Standard_D4s_v5}\ncompute: {count: 2, instance_type: Standard_D4s_v5}\n")
    result = invoke("plan", "--spec", str(spec), *extra.split())
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    assert expected in result.stdout and len(result.stdout.strip().splitlines()) <= 3


def test_wide_is_for_the_text_table() -> None:
    result = invoke("plan", "--stack", "hpc-dev", "--format", "json", "--wide")
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert "--wide widens the text table; --format json has every column already" in result.stdout + result.stderr
    wide = invoke("plan", "--stack", "hpc-dev", "-W")
    assert wide.returncode == 0 and "unit price" in wide.stdout and "per day" in wide.stdout
