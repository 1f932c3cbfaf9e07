"""The cloud-config a cloud node boots from: no key material in it (the image's host keys deleted before sshd
first starts, none generated, the boot script fetching the pinned one), the secrets fetcher and the boot script
written root-only on tmpfs and the script run once by runcmd."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import pytest

from components.boot import node_secrets
from components.boot.cloud_config import BOOT_PATH, RUN, cloud_config
from components.boot.script import NODE_SECRETS, boot_script
from tests.boot.configs import HOST_PUBLIC_KEY, aws, azure, local
from tests.boot.documents import parsed


@pytest.mark.parametrize("config", [aws("head"), aws("compute"), azure("head"), azure("compute")],
                         ids=["aws-head", "aws-compute", "azure-head", "azure-compute"])
def test_no_host_key_exists_until_the_boot_script_installs_the_pinned_one(config: Any) -> None:
    text = cloud_config(config)
    document = parsed(text)
    assert "ssh_keys" not in document and "PRIVATE KEY" not in text
    assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == []
    assert HOST_PUBLIC_KEY in boot_script(config)  # the public half only: it is public


def test_the_fetcher_written_is_node_secrets_py_byte_for_byte() -> None:
    [entry] = [e for e in parsed(cloud_config(aws()))["write_files"] if e["path"] == NODE_SECRETS]
    assert (entry["encoding"], entry["owner"], entry["permissions"]) == ("gz+b64", "root:root", "0700")
    assert gzip.decompress(base64.b64decode(entry["content"])) == Path(node_secrets.__file__).read_bytes()


def test_the_boot_script_is_written_root_only_and_run_once() -> None:
    bundle = [{"path": "/opt/cloud-hpc-toolkit/ansible/site.yml", "content": "x", "owner": "root:root",
               "permissions": "0644"}]
    document = parsed(cloud_config(azure("compute"), bundle))
    *files, fetcher, boot = document["write_files"]
    assert files == bundle  # the bundle is in place before the script that runs it
    assert fetcher["path"] == NODE_SECRETS
    assert boot == {"path": BOOT_PATH, "content": boot_script(azure("compute")), "owner": "root:root",
                    "permissions": "0700"}
    assert BOOT_PATH.startswith("/run/") and NODE_SECRETS.startswith("/run/")  # tmpfs, removed after the boot
    assert document["runcmd"] == [["sh", "-c", RUN]] and f"rm -f {BOOT_PATH}" in RUN


def test_a_node_without_a_pinned_host_key_gets_no_cloud_config() -> None:
    with pytest.raises(ValueError, match="a cloud node needs its pinned host key"):
        cloud_config(local())
