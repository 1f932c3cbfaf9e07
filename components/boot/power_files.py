"""Where the AWS head's power programs come from and go: ec2_power.py with the node_secrets.py it imports travel in
the S3 bundle (user data has no room for them), the config in the cloud-config (small, and known only at deploy);
all root's until the slurm role copies them, root:slurm 0640, beside its resume and suspend wrappers
(``slurm_power_files``), since slurmctld runs those as the slurm user."""

from __future__ import annotations

from pathlib import Path

from components.boot import ec2_power, node_secrets
from components.boot.cloud_files import gzipped_file
from components.boot.script import STAGE

POWER_DIR = "/var/lib/slurm/power"  # the slurm role's folder of the power wrappers
PROGRAM = f"{POWER_DIR}/ec2_power.py"
CONFIG = ec2_power.CONFIG  # /etc/slurm/ec2-power.json
STAGED_CONFIG = f"{STAGE}/ec2-power.json"
IN_BUNDLE = "power"  # the programs' folder inside the bundle


def bundled_programs() -> dict[str, Path]:
    """The bundle's extra files: path inside the bundle → the project's file."""
    return {f"{IN_BUNDLE}/{Path(module.__file__ or '').name}": Path(module.__file__ or '')
            for module in (ec2_power, node_secrets)}


def power_files(config_json: str) -> list[dict[str, str]]:
    """The cloud-config's ``write_files`` entry staging ``config_json`` (``ec2_power.power_config``'s text)."""
    return [gzipped_file(STAGED_CONFIG, config_json.encode(), "0600")]


def slurm_power_files(bundle_dir: str) -> list[dict[str, str]]:
    """The slurm role's ``slurm_power_files``: the programs from the unpacked bundle, the config from the stage."""
    programs = [{"src": f"{bundle_dir}/{inside}", "dest": f"{POWER_DIR}/{path.name}"}
                for inside, path in bundled_programs().items()]
    return [*programs, {"src": STAGED_CONFIG, "dest": CONFIG}]


def power_command(action: str) -> str:
    """The command the slurm role's wrapper runs (it adds Slurm's hostlist): ResumeProgram takes no arguments."""
    return f"/usr/bin/python3 {PROGRAM} --config {CONFIG} {action}"
