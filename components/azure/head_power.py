"""Where the Azure head's power programs come from and go: ``azure_power.py`` with the ``cloud_files.py`` and
``node_secrets.py`` it imports travel in the head's custom data (gzipped, staged root-only with the config; a copy of
its own, since the boot removes the fetcher it ran); the slurm role copies all four root:slurm 0640 beside its resume
and suspend wrappers (``slurm_power_files``), at boot and whenever it runs again."""

from __future__ import annotations

from pathlib import Path

from components.boot import azure_power, cloud_files, node_secrets
from components.boot.cloud_files import gzipped_file
from components.boot.power_files import POWER_DIR
from components.boot.script import STAGE

PROGRAMS = (azure_power, cloud_files, node_secrets)
STAGED_CONFIG = f"{STAGE}/azure-power.json"


def _staged(module: object) -> str:
    return f"{STAGE}/power/{Path(getattr(module, '__file__', '')).name}"


def power_files(config_json: str) -> list[dict[str, str]]:
    """The head's extra ``write_files`` entries: the programs and ``config_json`` (``azure_power.power_config``)."""
    programs = [gzipped_file(_staged(module), Path(module.__file__ or "").read_bytes(), "0600") for module in PROGRAMS]
    return [*programs, gzipped_file(STAGED_CONFIG, config_json.encode(), "0600")]


def slurm_power_vars() -> dict[str, object]:
    """The slurm role's power programs (the wrappers add Slurm's hostlist) and the files they read."""
    program = f"/usr/bin/python3 {POWER_DIR}/{Path(azure_power.__file__ or '').name} --config {azure_power.CONFIG}"
    copies = [{"src": _staged(module), "dest": f"{POWER_DIR}/{Path(module.__file__ or '').name}"}
              for module in PROGRAMS]
    return {"slurm_resume_command": f"{program} resume", "slurm_suspend_command": f"{program} suspend",
            "slurm_power_files": [*copies, {"src": STAGED_CONFIG, "dest": azure_power.CONFIG}]}
