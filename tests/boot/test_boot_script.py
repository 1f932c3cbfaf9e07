"""The boot script rendered from a BootConfig: valid sh for every target and role, the variables site.yml and
the roles document, each step reported before it runs, cloud-only steps only on clouds, incoherent configs
refused when built."""

from __future__ import annotations

import re
import subprocess
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from components.boot import script
from components.boot.config import OWN_VARS, AwsSecret, MungeKeyFile, S3Bundle, SshLogin, StaticNode
from components.boot.script import ansible_vars, boot_script
from components.boot.storage import storage_vars
from spec.loader import load_stack_config
from stacks.slurm import boot_vars
from targets.local.target import boot_tunables
from tests.boot.configs import AWS_SECRET, HOST_PUBLIC_KEY, USER_KEY, VAULT_SECRET, aws, azure, local

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
BUILDERS = {"aws": aws, "azure": azure, "local": local}


@pytest.mark.parametrize(("target", "role"), list(product(BUILDERS, ("head", "compute"))))
def test_rendered_script_is_valid_sh(target: str, role: str) -> None:
    text = boot_script(BUILDERS[target](role))
    result = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert text.startswith("#!/bin/sh\n")


def documented() -> set[str]:
    """Variables site.yml's header names, and those the roles give defaults to."""
    header = "".join(line for line in (ANSIBLE / "site.yml").read_text().splitlines(True) if line.startswith("#"))
    defaults = "".join(path.read_text() for path in ANSIBLE.glob("roles/*/defaults/main.yml"))
    return set(re.findall(r"[a-z_]+", header)) | set(re.findall(r"^([a-z_]+):", defaults, re.M))


def test_variables_are_the_ones_site_yml_documents() -> None:
    header = "".join(line for line in (ANSIBLE / "site.yml").read_text().splitlines(True) if line.startswith("#"))
    assert set(OWN_VARS) <= set(re.findall(r"[a-z_]+", header))
    variables = ansible_vars(aws("compute", tunables={}))
    assert set(variables) == set(OWN_VARS)
    assert variables["compute_nodes"] == []  # compute nodes register themselves (Slurm dynamic nodes)
    assert variables["service_manager"] == "systemd" and variables["install_packages"] is True
    assert variables["munge_key_src"] == "/run/cloud-hpc-toolkit/munge.key"  # staged on tmpfs
    assert (variables["node_name"], variables["head_address"]) == ("@NODE_NAME@", "@HEAD_ADDRESS@")


def test_every_tunable_a_target_passes_is_documented_or_defaulted() -> None:
    from spec.environment import Environment

    env = Environment.model_validate({"name": "docs", "target": "local", "compute": {"count": 2}})
    volumes = [{"name": "scratch", "node": "head", "mount": "/scratch", "volume_id": "vol-1", "fs_type": "ext4"}]
    cloud = boot_vars(load_stack_config("hpc-dev", ROOT), volumes, {"kind": "efs", "source": "fs-1", "mount": "/s"},
                      "ec2-user")
    on_local = {**boot_tunables(env), **storage_vars([{**volumes[0], "device": "/dev/loop7"}], None, owner="root",
                                                     persist=False)}
    for tunables in (on_local, cloud["head"], cloud["compute"]):
        assert set(ansible_vars(local(tunables=tunables))) - documented() == set()


def test_the_local_variables_list_its_static_nodes_and_munge_key_file() -> None:
    variables = ansible_vars(local("head", compute_nodes=(StaticNode("compute-0", "10.213.0.11"),)))
    assert variables["compute_nodes"] == [{"name": "compute-0", "address": "10.213.0.11"}]
    assert variables["munge_key_src"] == "/var/lib/cloud-hpc-toolkit/env/secrets/munge.key"
    assert (variables["service_manager"], variables["install_packages"]) == ("direct", False)


def steps(text: str) -> list[str]:
    first = re.search(r"^step=(.+)$", text, re.M)
    assert first and re.search(r'^begin "\$step"$', text, re.M)
    return [first.group(1)] + [step.strip("'") for step in re.findall(r"^begin ('.+'|\w+)$", text, re.M)]


def test_every_step_says_so_before_it_runs() -> None:
    assert steps(boot_script(aws("head"))) == [script.STARTING, script.RESTRICTING_IMDS, script.AUTHORIZING,
                                               script.FETCHING_SECRETS, script.STARTING_SSHD, script.NAMING,
                                               script.FETCHING, script.CONFIGURING]
    assert steps(boot_script(azure())) == [script.STARTING, script.RESTRICTING_IMDS, script.AUTHORIZING,
                                          script.FETCHING_SECRETS, script.STARTING_SSHD, script.NAMING,
                                          script.CONFIGURING]
    assert steps(boot_script(local())) == [script.STARTING, script.NAMING, script.CONFIGURING]
    for step in (script.STARTING, script.RESTRICTING_IMDS, script.AUTHORIZING, script.FETCHING_SECRETS,
                 script.STARTING_SSHD, script.NAMING, script.FETCHING, script.CONFIGURING, script.FINISHED):
        assert re.fullmatch(r"[A-Za-z ]+", step), step  # written into the JSON status as is


def test_cloud_steps_appear_only_when_asked() -> None:
    cloud, on_local = boot_script(aws("head")), boot_script(local("head"))
    for text in ("aws-object --url https://hpc-bundle-1234.s3.us-east-1.amazonaws.com/bundles/ansible-0123.zip",
                 "hostnamectl", "169.254.169.254", "authorized_keys", "sudoers", "node_secrets.py",
                 "systemctl restart ssh"):
        assert text in cloud and text not in on_local
    assert "sh /src/ansible/boot.sh /etc/cloud-hpc-toolkit/boot/boot-vars.json" in on_local
    assert "python3 -m zipfile -e /run/cloud-hpc-toolkit/bundle.zip /opt/cloud-hpc-toolkit/ansible" in cloud
    assert "hostname -I" in cloud and "head_address=10.213.0.10\n" in on_local


@pytest.mark.parametrize("config", [aws("head"), azure("compute")], ids=["aws", "azure"])
def test_the_script_fetches_the_keys_then_starts_sshd_with_the_pinned_one(config: Any) -> None:
    text = boot_script(config)
    fetch = " ".join(["python3", script.NODE_SECRETS, *script.fetch_arguments(config)])
    assert fetch in text and "PRIVATE KEY" not in text
    public = f"printf '%s\\n' '{HOST_PUBLIC_KEY}' > /etc/ssh/ssh_host_ed25519_key.pub"
    assert text.index(fetch) < text.index(public) < text.index("systemctl restart ssh") < text.index("boot.sh")


def test_the_fetch_names_exactly_the_node_roles_secret() -> None:
    assert script.fetch_arguments(aws()) == ["aws", "--secret-id", AWS_SECRET.arn, "--region", "us-east-1",
                                             "--endpoint", "https://secretsmanager.us-east-1.amazonaws.com"]
    assert script.fetch_arguments(azure()) == ["azure", "--vault-url", VAULT_SECRET.vault_url, "--name",
                                               "compute-boot", "--client-id", VAULT_SECRET.client_id]


@pytest.mark.parametrize(("changes", "message"), [
    ({"role": "login"}, "role 'login'"),
    ({"head_address": None}, "head_address is required"),
    ({"head_address": "10.0.1"}, "'10.0.1' is not an IPv4 address"),
    ({"bundle": S3Bundle("", "k", "us-east-1")}, "an S3 bundle needs bucket, key and region"),
    ({"host_public_key": None}, "a host key is pinned exactly when the munge key is a stored secret"),
    ({"munge_key": MungeKeyFile("/k")}, "a host key is pinned exactly when the munge key is a stored secret"),
    ({"host_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "must be an OpenSSH ssh-ed25519 public key"),
    ({"munge_key": AwsSecret("", "us-east-1", "https://x")}, "the munge key's secret is not fully named"),
    ({"login": SshLogin("ec2-user", " ")}, "login needs the user's public key"),
    ({"login": SshLogin("root; rm -rf /", USER_KEY)}, "login.user"),
    ({"head_name": "head; rm -rf /"}, "head_name"),
    ({"tunables": {"compute_nodes": []}}, "tunables may not set compute_nodes"),
    ({"role": "head", "head_address": None, "name_tag": "chpc:node"}, "name_tag = 'chpc:node': a compute node's"),
    ({"name_tag": "chpc node; rm -rf /"}, "name_tag = 'chpc node; rm -rf /'"),
    ({"cloud_instance": False, "name_tag": "chpc:node"}, "name_tag and imds_users need a cloud instance"),
    ({"cloud_instance": False, "imds_users": ("slurm",)}, "name_tag and imds_users need a cloud instance"),
    ({"imds_users": ("slurm; rm -rf /",)}, "imds_users[0]"),
])
def test_incoherent_configs_are_refused_when_built(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        aws(**{"role": "compute", **changes})


def test_a_compute_node_named_by_its_tag_reads_it_with_an_imdsv2_token_before_it_is_checked() -> None:
    text = boot_script(aws(name_tag="chpc:node"))
    token = "curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token"
    tag = "http://169.254.169.254/latest/meta-data/tags/instance/chpc:node"
    assert text.index("node_name=$(hostname -s)") < text.index(token) < text.index(tag) \
        < text.index('hostnamectl set-hostname "$node_name"') < text.index("is not a valid Slurm node name")
    assert text.index(script.RESTRICTING_IMDS) < text.index(token)  # root only, by then
    assert tag not in boot_script(aws())  # a node the cloud names keeps its hostname


def test_the_imds_users_are_made_and_accepted_ahead_of_the_reject() -> None:
    text = boot_script(aws("head", imds_users=("slurm",)))
    accept = "iptables -w -I OUTPUT -d 169.254.169.254/32 -m owner --uid-owner slurm -j ACCEPT"
    reject = "iptables -w -I OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT"
    assert text.index("useradd --system") < text.index(reject) < text.index(accept)  # -I: the last is first
    assert "--uid-owner slurm" not in boot_script(aws("head"))


def test_a_node_declared_by_hostlist_has_no_address_in_the_variables() -> None:
    variables = ansible_vars(aws(compute_nodes=(StaticNode("cpu-[0-99]"), StaticNode("efa-[0-7]"))))
    assert variables["compute_nodes"] == [{"name": "cpu-[0-99]", "address": None},
                                          {"name": "efa-[0-7]", "address": None}]
