"""gres.conf and the GPU lines of slurm.conf, as the slurm role renders them from an AWS cluster's variables: each GPU
partition's nodes carry ``Gres=gpu:<model>:N`` and the feature gpu, and gres.conf names their device files
(``/dev/nvidia[0-N-1]``, no AutoDetect). Debian's real slurmd 22.05 then reads that gres.conf (``slurmd -G``) on a GPU
node whose device files exist (character devices of the NVIDIA driver's major number, made in a mount namespace of
the test's own), and stops naming the first one when they do not: no GPU was ever there. Azure's partitions read
the same (``components/cloud_partitions.py``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.aws.elastic_slurm import slurm_vars
from components.cloud_partitions import declared_nodes
from spec import environment as spec
from tests.root import need_root
from tests.slurm_conf import render_slurm_conf

NVIDIA_MAJOR = 195  # the NVIDIA driver's character devices (/dev/nvidia0 is 195:0)
SLURMD_G = """set -eu
mount -t tmpfs none /dev
mknod -m 666 /dev/null c 1 3
for index in {indexes}; do mknod /dev/nvidia$index c {major} $index; done
SLURM_CONF={d}/slurm.conf slurmd -G -N {node}
"""


def partitions() -> tuple[spec.Partition, ...]:
    return (spec.Partition(name="cpu", instance_type="c5n.large", max=4),
            spec.Partition(name="train", instance_types=["g5.12xlarge", "g5.24xlarge"], min=1, max=3, gpus=4),
            spec.Partition(name="infer", instance_types=["g4dn.xlarge", "g5.xlarge"], max=2, gpus=1))


def render(tmp_path: Path) -> tuple[list[str], list[str]]:
    """slurm.conf's and gres.conf's lines for :func:`partitions` (without comments)."""
    parts = partitions()
    variables = {"cluster_name": "hpc", "head_name": "hpc-head", "head_address": "10.0.0.10",
                 "compute_nodes": [{"name": node.name, "address": None} for node in declared_nodes(parts)],
                 **slurm_vars(parts, spec.Scaling())}
    files = [render_slurm_conf(tmp_path, variables, name) for name in ("slurm.conf", "gres.conf")]
    slurm_conf, gres_conf = ([line for line in text.splitlines() if not line.startswith("#")] for text in files)
    return slurm_conf, gres_conf


def test_gpu_partitions_declare_their_gres_and_name_their_devices(tmp_path: Path) -> None:
    slurm_conf, gres_conf = render(tmp_path)
    assert "GresTypes=gpu" in slurm_conf
    assert [line for line in slurm_conf if line.startswith("NodeName")] == [
        "NodeName=cpu-[0-3] State=CLOUD Feature=cpu",
        "NodeName=train-[0-2] State=CLOUD Gres=gpu:a10g:4 Feature=train,gpu",
        "NodeName=infer-[0-1] State=CLOUD Gres=gpu:1 Feature=infer,gpu"]  # T4 or A10G: any GPU
    assert gres_conf == ["NodeName=train-[0-2] Name=gpu Type=a10g File=/dev/nvidia[0-3]",
                         "NodeName=infer-[0-1] Name=gpu File=/dev/nvidia0"]


def test_a_cluster_without_gpus_renders_no_gres(tmp_path: Path) -> None:
    variables = {"cluster_name": "hpc", "head_name": "head", "head_address": "10.0.0.10",
                 "compute_nodes": [{"name": "compute-0", "address": "10.0.0.11"}],
                 "slurm_partitions": [{"name": "compute", "nodes": ["compute-0"]}]}
    assert "Gres" not in render_slurm_conf(tmp_path, variables)
    assert [line for line in render_slurm_conf(tmp_path, variables, "gres.conf").splitlines()
            if not line.startswith("#")] == []


def slurmd_gres(tmp_path: Path, node: str, devices: int) -> subprocess.CompletedProcess[str]:
    """``slurmd -G`` as node ``node`` with ``devices`` NVIDIA device files, in a mount namespace of its
    own."""
    script = tmp_path / "gres.sh"
    script.write_text(SLURMD_G.format(d=tmp_path, node=node, major=NVIDIA_MAJOR,
                                      indexes=" ".join(map(str, range(devices)))))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", str(script)],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.local_cluster
def test_slurmd_reads_the_gres_conf_of_each_node(tmp_path: Path) -> None:
    need_root("slurmd -G in a mount namespace", "/usr/sbin/slurmd")
    render(tmp_path)
    train = slurmd_gres(tmp_path, "train-1", 4)
    assert train.returncode == 0, train.stderr
    assert "Gres Name=gpu Type=a10g Count=4" in train.stderr and "File=/dev/nvidia[0-3]" in train.stderr
    infer = slurmd_gres(tmp_path, "infer-0", 1)
    assert infer.returncode == 0 and "Gres Name=gpu Type=(null) Count=1" in infer.stderr, infer.stderr
    cpu = slurmd_gres(tmp_path, "cpu-2", 0)
    assert (cpu.returncode, "Gres" in cpu.stderr) == (0, False), cpu.stderr
    missing = slurmd_gres(tmp_path, "train-0", 0)
    assert missing.returncode != 0 and "can't stat gres.conf file /dev/nvidia0" in missing.stderr
