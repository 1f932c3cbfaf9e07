"""The slurm role's tunables of an AWS cluster: its partitions as every cloud declares them
(``components/cloud_partitions.py``), and the EC2 power programs (``ec2_power.py``) that start and stop them."""

from __future__ import annotations

from collections.abc import Sequence

from components.boot.config import BUNDLE_DIR
from components.boot.power_files import power_command, slurm_power_files
from components.cloud_partitions import power_saving_vars
from spec import environment as spec


def slurm_vars(partitions: Sequence[spec.Partition], scaling: spec.Scaling) -> dict[str, object]:
    """The slurm role's tunables of every AWS node, the power programs included."""
    return {**power_saving_vars("aws", partitions, scaling),
            "slurm_resume_command": power_command("resume"), "slurm_suspend_command": power_command("suspend"),
            "slurm_power_files": slurm_power_files(BUNDLE_DIR)}
