"""Write ``spec/instance_capabilities.json`` from moto's copy of EC2's DescribeInstanceTypes answer, offline.

The table is a dated snapshot the spec judges instance types by (EFA, ENA, GPUs); regenerating it from the moto wheel
pinned in ``pyproject.toml`` keeps it reproducible: run ``.venv/bin/python tools/instance_capabilities.py``.
"""

from __future__ import annotations

import datetime
import gzip
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import moto

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "spec" / "instance_capabilities.json"
MOTO_TYPES = Path(moto.__file__).parent / "ec2" / "resources" / "instance_types.json.gz"
SOURCE = {
    "what": "Per EC2 instance type: EFA support (and how many EFA interfaces), ENA support, GPUs. Read by "
            "spec/machine_types.py (check_instance_networking, gpu_info).",
    "source": "EC2 DescribeInstanceTypes output as shipped in moto (getmoto/moto, file "
              "moto/ec2/resources/instance_types.json, refreshed from AWS by moto's maintainers); taken from the moto "
              f"{moto.__version__} wheel pinned in pyproject.toml (moto/ec2/resources/instance_types.json.gz)",
    "fields": {
        "efa": "NetworkInfo.EfaSupported",
        "efa_interfaces": "NetworkInfo.EfaInfo.MaximumEfaInterfaces",
        "ena": "NetworkInfo.EnaSupport: required | supported | unsupported",
        "gpus": "GpuInfo.Gpus[0].Count: whole GPUs (types without GpuInfo have no gpu fields)",
        "gpu_maker": "GpuInfo.Gpus[0].Manufacturer",
        "gpu_model": "GpuInfo.Gpus[0].Name",
        "gpu_memory_mib": "GpuInfo.Gpus[0].MemoryInfo.SizeInMiB: per GPU",
        "gpu_fraction": "GpuInfo.Gpus[0].GpuPartitionSize, where below 1: a share of one GPU (gpus is then 0)",
    },
    "regenerate": "offline: .venv/bin/python tools/instance_capabilities.py (reads moto's instance_types.json.gz "
                  "from the project venv; no network needed)",
    "not_used": "eksctl-io/eksctl pkg/utils/instance/instance_types.go (commit "
                "0027506e8f395e6e9216270328aee228ba8eae07) has EFASupported but no ENA field",
}


def capabilities(described: dict[str, Any]) -> dict[str, Any]:
    """One type's row: its networking, and its GPUs when it has any (every GPU type of EC2 has one kind)."""
    network = described["NetworkInfo"]
    row: dict[str, Any] = {"efa": network.get("EfaSupported", False),
                           "efa_interfaces": network.get("EfaInfo", {}).get("MaximumEfaInterfaces", 0),
                           "ena": network["EnaSupport"]}
    gpus = described.get("GpuInfo", {}).get("Gpus", [])
    if gpus:
        [gpu] = gpus
        row |= {"gpus": gpu["Count"], "gpu_maker": gpu["Manufacturer"], "gpu_model": gpu["Name"],
                "gpu_memory_mib": gpu["MemoryInfo"]["SizeInMiB"]}
        if gpu.get("GpuPartitionSize", 1) < 1:
            row["gpu_fraction"] = str(Fraction(gpu["GpuPartitionSize"]).limit_denominator(64))
    return row


def render(described: dict[str, dict[str, Any]], generated: str) -> str:
    """The table's text: the source first, then one line per type, sorted, as reviewers diff it."""
    head = json.dumps({"_source": {**SOURCE, "generated": generated}}, indent=2)[:-2]
    rows = ",\n".join(f"    {json.dumps(name)}: {json.dumps(capabilities(described[name]))}"
                      for name in sorted(described))
    return f"{head},\n  \"types\": {{\n{rows}\n  }}\n}}\n"


if __name__ == "__main__":
    types = json.loads(gzip.decompress(MOTO_TYPES.read_bytes()))
    TABLE.write_text(render(types, datetime.date.today().isoformat()), encoding="utf-8")
