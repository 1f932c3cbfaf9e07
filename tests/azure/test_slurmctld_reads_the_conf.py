"""The Azure head's slurm.conf, rendered from its custom data's variables, read by Debian's real slurmctld 22.05 in
namespaces of its own, as on AWS (tests/aws/test_slurmctld_reads_the_conf.py, whose run this shares): every node of
every partition declared CLOUD without an address (a GPU one with its GRES), powered down, and the always-on ones
handed to the ResumeProgram (a recording script here, azure_power.py on Azure). Azure's nodes run Ubuntu 24.04's
Slurm 23.11, not 22.05: the lines read here are ones both releases take."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.aws.test_slurmctld_reads_the_conf import run_slurmctld
from tests.azure.conftest import AzureMocks
from tests.azure.test_slurm_cluster import build, head_document, partition
from tests.boot.documents import boot_of, variables_of
from tests.root import need_root

pytestmark = pytest.mark.local_cluster


def test_slurmctld_takes_the_azure_partitions_and_powers_up_the_always_on_nodes(mocks: AzureMocks,
                                                                               tmp_path: Path) -> None:
    need_root("slurmctld in namespaces", "/usr/sbin/slurmctld")
    build(partition("cpu", count=100, min=0, networking="none", size=None,
                    instance_types=["Standard_D4s_v5", "Standard_F4s_v2"], spot=True),
          partition("ib", count=8, min=2),
          partition("gpu", count=4, min=0, networking="none", size="Standard_NC64as_T4_v3", gpus=4))
    variables = variables_of(boot_of(head_document(mocks)))
    assert variables["slurm_resume_command"].endswith("azure_power.py --config /etc/slurm/azure-power.json resume")
    sinfo, calls = run_slurmctld(tmp_path, variables)
    assert sinfo == ["cpu* 100 idle~ cpu-[0-99] (null)", "ib 8 idle~ ib-[0-7] (null)",
                     "gpu 4 idle~ gpu-[0-3] gpu:t4:4"]
    assert calls == "resume ib-[0-1]\n"
