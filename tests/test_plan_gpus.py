"""`invoke plan` of a spec with GPU partitions, offline: the program runs through the GPU image lookups (the public
SSM parameters), a GPU type the price table has is priced from it, and one it has not is said in one line, never
priced at zero."""

from __future__ import annotations

import json
from pathlib import Path

from targets.plan.prices import load_prices
from tests.local.harness import invoke

SPEC = """target: aws
region: us-east-1
ssh: {allowed_cidr: 198.51.100.0/24, public_key: ~/.ssh/id_ed25519.pub}
head: {instance_type: c5n.large}
partitions:
  - {name: train, instance_type: g5.12xlarge, min: 1, max: 2}
  - {name: infer, instance_type: g4dn.xlarge, max: 3}
"""


def test_gpu_partitions_are_priced_from_the_table_or_said_not_priced(tmp_path: Path) -> None:
    (tmp_path / "gpu.yaml").write_text(SPEC)
    planned = invoke(tmp_path / "state", "plan", "--spec", str(tmp_path / "gpu.yaml"), "--format", "json",
                     env={"HOME": str(tmp_path)})
    assert planned.returncode == 0, planned.stderr
    partitions = {p["name"]: p for p in json.loads(planned.stdout)["partitions"]}
    assert partitions["train"]["node_per_hour_usd"] == load_prices("us-east-1").instance_hour("g5.12xlarge") > 0
    assert load_prices("us-east-1").instance_hour("g4dn.xlarge") is None
    assert partitions["infer"]["node_per_hour_usd"] is None
    text = invoke(tmp_path / "state", "plan", "--spec", str(tmp_path / "gpu.yaml"), env={"HOME": str(tmp_path)})
    assert "partition infer: 0 to 3 × g4dn.xlarge: not in the price table" in " ".join(text.stdout.split())
