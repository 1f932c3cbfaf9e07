"""The slurm role's slurm.conf as ansible's template module renders it for a node's variables (the role's defaults
under them), so a test reads what slurmctld would read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

ROLE = Path(__file__).resolve().parents[1] / "ansible" / "roles" / "slurm"


def render_slurm_conf(variables: dict[str, Any], head_address: str = "10.0.0.10") -> str:
    """slurm.conf for ``variables`` (a boot's variables file; the head's address as the node fills it in)."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"), trim_blocks=True,
                                     undefined=jinja2.StrictUndefined, autoescape=False)
    return environment.get_template("slurm.conf.j2").render(**{**defaults, **variables,
                                                                "head_address": head_address})
