"""The cloud-config a cloud node boots from: the pinned host key handed to cloud-init's ssh module (written
before sshd first starts, the image's own keys deleted, none generated), the boot script written root-only on
tmpfs and run once by runcmd."""

from __future__ import annotations

from typing import Any

import pytest

from components.boot.cloud_config import BOOT_PATH, RUN, cloud_config
from components.boot.script import boot_script
from tests.boot.configs import HOST_KEY, aws, azure, local
from tests.boot.documents import parsed


@pytest.mark.parametrize("config", [aws("head"), aws("compute"), azure("head"), azure("compute")],
                         ids=["aws-head", "aws-compute", "azure-head", "azure-compute"])
def test_the_pinned_host_key_is_the_only_one_sshd_serves(config: Any) -> None:
    document = parsed(cloud_config(config))
    assert document["ssh_keys"] == {"ed25519_private": HOST_KEY.private + "\n", "ed25519_public": HOST_KEY.public}
    assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == ["ed25519"]


def test_the_boot_script_is_written_root_only_and_run_once() -> None:
    bundle = [{"path": "/opt/cloud-hpc-toolkit/ansible/site.yml", "content": "x", "owner": "root:root",
               "permissions": "0644"}]
    document = parsed(cloud_config(azure("compute"), bundle))
    *files, boot = document["write_files"]
    assert files == bundle  # the bundle is in place before the script that runs it
    assert boot == {"path": BOOT_PATH, "content": boot_script(azure("compute")), "owner": "root:root",
                    "permissions": "0700"}
    assert BOOT_PATH.startswith("/run/")  # tmpfs: the script, with the munge key, never reaches a disk
    assert document["runcmd"] == [["sh", "-c", RUN]] and f"rm -f {BOOT_PATH}" in RUN


def test_a_node_without_a_pinned_host_key_gets_no_cloud_config() -> None:
    with pytest.raises(ValueError, match="a cloud node needs its pinned host key"):
        cloud_config(local())
