"""The AWS Slurm cluster component against recording mocks: one launch template per partition (EFA where it asks
for rdma, a cluster placement group where the type may join one) and no compute instance or scaling group (the
head's resume program launches nodes by name), IMDSv2 and encryption everywhere, a head and a compute role each
least-privilege (the head's power policy limited to the templates), a private bundle bucket carrying the power
programs, the keys in Secrets Manager (never in user data), and a resource count that grows with neither max nor
min."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.aws.node_image import architecture
from components.aws.power_policy import head_power_policy
from components.aws.slurm_cluster import (
    USER_DATA_LIMIT,
    SlurmCluster,
    SlurmClusterArgs,
    bundle_key,
    within_ec2_limit,
)
from components.boot import ec2_power
from components.boot.cloud_config import BOOT_PATH
from components.boot.power_files import STAGED_CONFIG
from components.security import SecurityViolation, check_resource
from spec import environment as spec
from tests.aws.mocks import CALLS, FAKE_ED25519, MOCK_MUNGE, MOCK_PRIVATE, USER_KEY, RecordingMocks
from tests.boot.documents import boot_of, parsed, variables_of
from tests.pulumi_helpers import plain_strings, secret_value
from tests.slurm_conf import render_slurm_conf

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
INSTANCE = "aws:ec2/instance:Instance"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GROUP = "aws:autoscaling/group:Group"
PLACEMENT = "aws:ec2/placementGroup:PlacementGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ARN = "arn:aws:mock:us-east-1:123456789012"


@pytest.fixture
def cluster_mocks(mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingMocks]:
    """The shared recorder; the AMI answer also names its root device, which the launch template maps."""
    monkeypatch.setitem(CALLS, "aws:ec2/getAmi:getAmi", {**CALLS["aws:ec2/getAmi:getAmi"],
                                                         "rootDeviceName": "/dev/xvda"})
    yield mocks


def two_partitions(cpu_max: int = 100, efa_min: int = 2, efa_max: int = 8) -> tuple[spec.Partition, ...]:
    """The issue's example: an elastic cpu partition with a fallback type, an efa one with two always on."""
    return (spec.Partition(name="cpu", instance_types=["c5n.large", "c5.large"], min=0, max=cpu_max, spot=True),
            spec.Partition(name="efa", instance_type="c5n.18xlarge", networking="rdma", min=efa_min, max=efa_max))


def cluster_args(partitions: tuple[spec.Partition, ...] | None = None, head_type: str = "c5n.large",
                 ansible_dir: Path = ANSIBLE) -> SlurmClusterArgs:
    return SlurmClusterArgs(
        cluster_name="hpc", head=spec.Head(instance_type=head_type),
        partitions=partitions if partitions is not None else two_partitions(),
        ssh_user="ec2-user", ssh_public_key=USER_KEY, head_subnet_id="subnet-public0",
        compute_subnet_id="subnet-private0", head_security_group_id="sg-head",
        cluster_security_group_id="sg-cluster", ansible_dir=ansible_dir, tags={"project": "chpc"},
        scaling=spec.Scaling(idle_minutes=5, resume_timeout_minutes=20),
        boot_vars={"head": {"mounted": "head"}, "compute": {"mounted": "compute", "mpi_networking": "none"}},
        partition_vars={"cpu": {"mpi_networking": "enhanced"}, "efa": {"mpi_networking": "rdma"}})


def one_partition(networking: str = "rdma", instance_type: str = "c5n.18xlarge") -> tuple[spec.Partition, ...]:
    return (spec.Partition(name="compute", instance_type=instance_type, networking=networking, min=2, max=2),)


def build(**kwargs: Any) -> dict[str, Any]:
    """Declare the cluster; return its outputs (read through apply)."""
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        cluster = SlurmCluster("hpc", cluster_args(**kwargs))
        seen["compute_tag"] = cluster.compute_tag
        names = ("head_instance_id", "head_public_ip", "head_private_ip", "head_host_key", "compute_host_key",
                 "bundle_bucket")
        for attr in names:
            getattr(cluster, attr).apply(lambda value, attr=attr: seen.__setitem__(attr, value))
        return pulumi.Output.all(*(getattr(cluster, attr) for attr in names))

    program()
    return seen


def templates(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    """Each launch template's inputs by its name."""
    return {template.name: template.inputs for template in mocks.of_type(TEMPLATE)}


def test_each_partition_has_a_launch_template_and_no_node_is_declared(cluster_mocks: RecordingMocks) -> None:
    outputs = build()
    found = templates(cluster_mocks)
    assert set(found) == {"hpc-cpu", "hpc-efa"}
    assert (found["hpc-cpu"]["instanceType"], found["hpc-efa"]["instanceType"]) == ("c5n.large", "c5n.18xlarge")
    assert cluster_mocks.of_type(GROUP) == []
    assert [i.name for i in cluster_mocks.of_type(INSTANCE)] == ["hpc-head"]  # compute nodes: the head launches them
    assert {t["tags"]["chpc:partition"]: (t["tags"]["chpc:min"], t["tags"]["chpc:max"]) for t in found.values()} == {
        "cpu": ("0", "100"), "efa": ("2", "8")}
    assert outputs["compute_tag"] == (ec2_power.ENVIRONMENT_TAG, "hpc")


def test_rdma_puts_an_efa_interface_carrying_the_cluster_group_and_others_a_plain_one(
        cluster_mocks: RecordingMocks) -> None:
    build()
    found = templates(cluster_mocks)
    assert found["hpc-efa"]["networkInterfaces"] == [{
        "interfaceType": "efa", "networkCardIndex": 0, "deviceIndex": 0, "securityGroups": ["sg-cluster"],
        "associatePublicIpAddress": "false", "deleteOnTermination": "true"}]
    assert found["hpc-cpu"]["networkInterfaces"] == [{
        "deviceIndex": 0, "securityGroups": ["sg-cluster"], "associatePublicIpAddress": "false",
        "deleteOnTermination": "true"}]
    for template in found.values():
        assert "vpcSecurityGroupIds" not in template  # would conflict with the interface's groups
        assert "subnetId" not in template["networkInterfaces"][0]  # the resume program names it at launch


def test_placement_groups_only_where_the_type_may_join_one(cluster_mocks: RecordingMocks) -> None:
    build(partitions=(spec.Partition(name="burst", instance_type="t3.large", max=4),
                      spec.Partition(name="efa", instance_type="c5n.18xlarge", networking="rdma", max=4)))
    placement = cluster_mocks.one(PLACEMENT)
    assert placement.name == "hpc-efa-placement" and placement.inputs["strategy"] == "cluster"
    found = templates(cluster_mocks)
    assert found["hpc-efa"]["placement"] == {"groupName": placement.name}
    assert "placement" not in found["hpc-burst"]


def test_imdsv2_and_encrypted_roots_on_head_and_templates_whose_tags_a_node_may_read(
        cluster_mocks: RecordingMocks) -> None:
    build()
    head = cluster_mocks.one(INSTANCE).inputs
    assert head["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                       "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
    assert head["rootBlockDevice"]["encrypted"] is True and head["rootBlockDevice"]["volumeType"] == "gp3"
    for template in templates(cluster_mocks).values():
        assert template["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                               "httpPutResponseHopLimit": 1, "instanceMetadataTags": "enabled"}
        (mapping,) = template["blockDeviceMappings"]
        assert mapping["deviceName"] == "/dev/xvda"  # the AMI's root device, so this mapping is the root volume
        assert mapping["ebs"]["encrypted"] == "true" and mapping["ebs"]["volumeType"] == "gp3"


def test_head_has_its_own_interface_in_the_public_subnet_with_both_groups(cluster_mocks: RecordingMocks) -> None:
    outputs = build()
    head = cluster_mocks.one(INSTANCE)
    interface = cluster_mocks.one("aws:ec2/networkInterface:NetworkInterface")
    assert interface.inputs["subnetId"] == "subnet-public0"
    assert interface.inputs["securityGroups"] == ["sg-head", "sg-cluster"]
    assert head.inputs["primaryNetworkInterface"] == {"networkInterfaceId": f"{interface.name}-id"}
    assert "subnetId" not in head.inputs and "vpcSecurityGroupIds" not in head.inputs
    address = cluster_mocks.one("aws:ec2/eip:Eip")
    assert address.inputs["networkInterface"] == f"{interface.name}-id" and address.inputs["domain"] == "vpc"
    assert head.inputs["tags"] == {"project": "chpc", "Name": "hpc-head"}
    assert head.inputs["ami"] == CALLS["aws:ec2/getAmi:getAmi"]["id"]
    assert outputs["head_public_ip"] == "198.51.100.10" and outputs["head_private_ip"] == "10.0.0.10"
    assert outputs["head_instance_id"] == f"{head.name}-id"


def test_images_are_debian_12_of_each_instance_types_architecture(cluster_mocks: RecordingMocks) -> None:
    build(head_type="c7g.large", partitions=(spec.Partition(name="arm", instance_type="c6gn.16xlarge", max=2),
                                             spec.Partition(name="x86", instance_type="c5n.18xlarge", max=2)))
    amis = [args for token, args in cluster_mocks.calls if token == "aws:ec2/getAmi:getAmi"]
    filters = [{f["name"]: f["values"] for f in args["filters"]} for args in amis]
    assert [f["architecture"] for f in filters] == [["arm64"], ["x86_64"], ["arm64"]]  # arm, x86, then the head
    assert [f["name"] for f in filters] == [["debian-12-arm64-*"], ["debian-12-amd64-*"], ["debian-12-arm64-*"]]
    assert all(args["owners"] == ["136693071363"] and args["mostRecent"] is True for args in amis)


@pytest.mark.parametrize(("instance_type", "arch"), [
    ("c5n.18xlarge", "x86_64"), ("g4dn.xlarge", "x86_64"), ("g5.xlarge", "x86_64"), ("m7i-flex.large", "x86_64"),
    ("c6gn.16xlarge", "arm64"), ("hpc7g.16xlarge", "arm64"), ("t4g.micro", "arm64"), ("a1.large", "arm64"),
    ("g5g.xlarge", "arm64"), ("im4gn.large", "arm64"),
])
def test_architecture_of_instance_types(instance_type: str, arch: str) -> None:
    assert architecture(instance_type) == arch


def test_each_node_role_may_use_ssm_and_read_the_bundle_and_its_own_secret_only(
        cluster_mocks: RecordingMocks) -> None:
    build()
    roles = {role.name: role for role in cluster_mocks.of_type("aws:iam/role:Role")}
    assert set(roles) == {"hpc-head-role", "hpc-compute-role"}
    for role in roles.values():
        assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}]
    attachments = cluster_mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert sorted((a.inputs["role"], a.inputs["policyArn"]) for a in attachments) == [
        ("hpc-compute-role", SSM_CORE), ("hpc-head-role", SSM_CORE)]
    bucket = cluster_mocks.one("aws:s3/bucket:Bucket")
    key = cluster_mocks.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs["key"]
    policies = {p.name: (p.inputs["role"], json.loads(p.inputs["policy"])) for p in cluster_mocks.of_type(ROLE_POLICY)}
    assert set(policies) == {"hpc-head-bundle-read", "hpc-head-secret-read", "hpc-head-power",
                             "hpc-compute-bundle-read", "hpc-compute-secret-read"}
    for role in ("head", "compute"):
        attached, bundle = policies[f"hpc-{role}-bundle-read"]
        assert attached == f"hpc-{role}-role-id"
        assert [(s["Effect"], s["Action"], s["Resource"]) for s in bundle["Statement"]] == [
            ("Allow", ["s3:GetObject"], [f"{ARN}:{bucket.name}/{key}"])]
        attached, secret = policies[f"hpc-{role}-secret-read"]
        assert attached == f"hpc-{role}-role-id"
        assert [(s["Effect"], s["Action"], s["Resource"]) for s in secret["Statement"]] == [
            ("Allow", ["secretsmanager:GetSecretValue"], [f"{ARN}:hpc-{role}-boot"])]
    assert cluster_mocks.one(INSTANCE).inputs["iamInstanceProfile"] == "hpc-head-profile"
    for template in templates(cluster_mocks).values():
        assert template["iamInstanceProfile"] == {"arn": f"{ARN}:hpc-compute-profile"}


def test_the_heads_power_policy_names_exactly_the_templates_and_the_compute_role(
        cluster_mocks: RecordingMocks) -> None:
    build()
    [(role, policy)] = [(p.inputs["role"], json.loads(p.inputs["policy"])) for p in cluster_mocks.of_type(ROLE_POLICY)
                        if p.name == "hpc-head-power"]
    assert role == "hpc-head-role-id"
    expected = head_power_policy("hpc", [f"{ARN}:hpc-cpu", f"{ARN}:hpc-efa"], "us-east-1",
                                 f"{ARN}:hpc-compute-role", "123456789012")
    assert policy == expected
    assert not any(statement["Action"] == "ec2:RunInstances" for statement in [
        s for p in cluster_mocks.of_type(ROLE_POLICY) if p.name != "hpc-head-power"
        for s in json.loads(p.inputs["policy"])["Statement"]])


def test_bundle_bucket_is_private_encrypted_tls_only_and_carries_the_power_programs(
        cluster_mocks: RecordingMocks) -> None:
    outputs = build()
    bucket = cluster_mocks.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["forceDestroy"] is True
    assert outputs["bundle_bucket"] == f"{bucket.name}-bucket"
    encryption = cluster_mocks.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                                   "BucketServerSideEncryptionConfiguration").inputs
    assert encryption["bucket"] == outputs["bundle_bucket"]
    assert encryption["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    block = cluster_mocks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert {k: block[k] for k in flags} == dict.fromkeys(flags, True)
    (deny,) = json.loads(cluster_mocks.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bundle = cluster_mocks.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs
    assert isinstance(bundle["source"], pulumi.AssetArchive)
    assets = {name: Path(asset.path) for name, asset in bundle["source"].assets.items()}
    assert assets["roles/slurm/templates/slurm.conf.j2"] == ANSIBLE / "roles/slurm/templates/slurm.conf.j2"
    assert assets["power/ec2_power.py"] == Path(ec2_power.__file__)
    assert assets["power/node_secrets.py"].name == "node_secrets.py"
    assert len(assets) == sum(1 for p in ANSIBLE.rglob("*") if p.is_file()) + 2
    assert bundle["key"] == bundle_key(ANSIBLE)


def test_bundle_key_follows_the_roles_content(tmp_path: Path) -> None:
    copy = tmp_path / "ansible"
    shutil.copytree(ANSIBLE, copy)
    assert bundle_key(copy) == bundle_key(ANSIBLE)
    assert bundle_key(copy).startswith("bundles/ansible-") and bundle_key(copy).endswith(".zip")
    template = copy / "roles" / "slurm" / "templates" / "slurm.conf.j2"
    template.write_text(template.read_text() + "# changed\n")
    assert bundle_key(copy) != bundle_key(ANSIBLE)


def user_data(mocks: RecordingMocks) -> dict[str, str]:
    """The head's and each template's user data as cloud-init reads them (plain: they hold no secret)."""
    return {"hpc-head": mocks.one(INSTANCE).inputs["userData"],
            **{name: base64.b64decode(t["userData"]).decode() for name, t in templates(mocks).items()}}


def test_user_data_holds_no_key_and_names_its_roles_secret(cluster_mocks: RecordingMocks) -> None:
    outputs = build()
    secrets = {secret.name: secret for secret in cluster_mocks.of_type("aws:secretsmanager/secret:Secret")}
    for name, text in user_data(cluster_mocks).items():
        role = "head" if name == "hpc-head" else "compute"
        script = boot_of(parsed(text))
        assert script.startswith("#!/bin/sh\n") and f"boot the {role} node of cluster hpc" in script
        assert USER_KEY in script
        # the bundle by a signed GetObject (node_secrets.py), virtual-hosted style, the AWS CLI not needed
        assert re.search(r"aws-object --url https://[a-z0-9.-]+\.s3\.us-east-1\.amazonaws\.com/[^ ]+\.zip "
                         r"--region us-east-1 --out /run/cloud-hpc-toolkit/bundle\.zip", script), script
        assert "aws s3" not in script and "apt-get install -y -qq awscli" not in script
        assert MOCK_MUNGE not in text and MOCK_PRIVATE not in text and "PRIVATE KEY" not in text
        assert f"--secret-id {ARN}:hpc-{role}-boot --region us-east-1 --endpoint " \
               "https://secretsmanager.us-east-1.amazonaws.com" in script
        assert secrets[f"hpc-{role}-boot"].inputs["recoveryWindowInDays"] == 0
        assert len(text.encode()) < USER_DATA_LIMIT
        if role == "compute":
            assert "head_address=10.0.0.10\n" in script  # the head interface's private IP
    assert "hostname -I" in boot_of(parsed(user_data(cluster_mocks)["hpc-head"]))
    public = " ".join(FAKE_ED25519.split()[:2])
    assert outputs["head_host_key"] == outputs["compute_host_key"] == public


def test_a_compute_node_takes_its_name_from_its_tag_and_only_the_heads_slurm_user_reaches_imds(
        cluster_mocks: RecordingMocks) -> None:
    build()
    found = user_data(cluster_mocks)
    head = boot_of(parsed(found.pop("hpc-head")))
    assert "--uid-owner slurm -j ACCEPT" in head and "meta-data/tags/instance" not in head
    for text in found.values():
        script = boot_of(parsed(text))
        assert "/latest/meta-data/tags/instance/chpc:node" in script and "X-aws-ec2-metadata-token" in script
        assert 'hostnamectl set-hostname "$node_name"' in script
        assert "--uid-owner slurm" not in script


def test_the_head_stages_the_power_config_of_every_partition(cluster_mocks: RecordingMocks) -> None:
    build()
    document = parsed(user_data(cluster_mocks)["hpc-head"])
    [entry] = [e for e in document["write_files"] if e["path"] == STAGED_CONFIG]
    assert (entry["permissions"], entry["owner"]) == ("0600", "root:root")
    config = ec2_power.read_config(gzip.decompress(base64.b64decode(entry["content"])).decode())
    assert (config.region, config.environment) == ("us-east-1", "hpc")
    assert config.partitions == {
        "cpu": ec2_power.PartitionLaunch("hpc-cpu-id", ("c5n.large", "c5.large"), ("subnet-private0",), spot=True),
        "efa": ec2_power.PartitionLaunch("hpc-efa-id", ("c5n.18xlarge",), ("subnet-private0",), spot=False)}
    for name, text in user_data(cluster_mocks).items():
        if name != "hpc-head":
            assert STAGED_CONFIG not in [e["path"] for e in parsed(text)["write_files"]]


def test_slurm_conf_declares_every_node_as_cloud_and_powers_up_the_always_on_ones(
        cluster_mocks: RecordingMocks, tmp_path: Path) -> None:
    build()
    found = {name: variables_of(boot_of(parsed(text))) for name, text in user_data(cluster_mocks).items()}
    head = found.pop("hpc-head")
    conf = render_slurm_conf(tmp_path, {**head, "head_address": "10.0.0.10"})
    lines = conf.splitlines()
    assert "NodeName=cpu-[0-99] State=CLOUD Feature=cpu" in lines
    assert "NodeName=efa-[0-7] State=CLOUD Feature=efa" in lines
    assert "PartitionName=cpu Nodes=cpu-[0-99] Default=YES MaxTime=INFINITE State=UP" in lines
    assert "PartitionName=efa Nodes=efa-[0-7] Default=NO MaxTime=INFINITE State=UP" in lines
    assert "SuspendExcNodes=efa-[0-1]" in lines and "SuspendTime=300" in lines and "ResumeTimeout=1200" in lines
    assert "ResumeProgram=/var/lib/slurm/power/resume" in lines and "NodeAddr" not in conf
    assert head["slurm_resume_command"] == \
        "/usr/bin/python3 /var/lib/slurm/power/ec2_power.py --config /etc/slurm/ec2-power.json resume"
    assert head["slurm_suspend_command"].endswith("--config /etc/slurm/ec2-power.json suspend")
    assert head["slurm_power_up_nodes"] == ["efa-[0-1]"]
    assert [f["dest"] for f in head["slurm_power_files"]] == [
        "/var/lib/slurm/power/ec2_power.py", "/var/lib/slurm/power/node_secrets.py", "/etc/slurm/ec2-power.json"]
    for variables in found.values():  # every node reads the same slurm.conf
        assert render_slurm_conf(tmp_path, {**variables, "head_address": "10.0.0.10"}) == conf
    assert (found["hpc-cpu"]["mpi_networking"], found["hpc-efa"]["mpi_networking"]) == ("enhanced", "rdma")
    assert found["hpc-cpu"]["mounted"] == found["hpc-efa"]["mounted"] == "compute"  # the compute vars under them


def test_each_roles_secret_holds_the_munge_key_and_its_host_key_only_as_a_secret(
        cluster_mocks: RecordingMocks) -> None:
    build()
    versions = cluster_mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert sorted(v.name for v in versions) == ["hpc-compute-boot-value", "hpc-head-boot-value"]
    for version in versions:
        assert version.inputs["secretId"] == version.name.removesuffix("-value") + "-id"
        document = json.loads(secret_value(version.inputs["secretString"]))
        assert document == {"munge_key": MOCK_MUNGE,
                            "host_key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MOCK_PRIVATE}\n"}
    for resource in cluster_mocks.resources:
        if resource.type != "aws:secretsmanager/secretVersion:SecretVersion":
            for text in plain_strings(resource.inputs):
                assert MOCK_MUNGE not in text and MOCK_PRIVATE not in text, f"{resource.type} {resource.name} leaks"


def test_sshd_serves_no_key_until_the_boot_script_installs_the_pinned_one(cluster_mocks: RecordingMocks) -> None:
    """cloud-init deletes the image's keys before sshd first starts and makes none: no connection meets another
    key; the boot script writes the pinned public half beside the fetched private one, then starts sshd."""
    outputs = build()
    for name, text in user_data(cluster_mocks).items():
        pinned = outputs["head_host_key" if name == "hpc-head" else "compute_host_key"]
        document = parsed(text)
        assert "ssh_keys" not in document
        assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == []
        assert f"printf '%s\\n' '{FAKE_ED25519}' > /etc/ssh/ssh_host_ed25519_key.pub" in boot_of(document)
        assert " ".join(FAKE_ED25519.split()[:2]) == pinned  # the key the outputs pin
        assert BOOT_PATH in [e["path"] for e in document["write_files"]]


def test_the_head_starts_once_its_secret_its_permissions_and_its_power_exist(cluster_mocks: RecordingMocks,
                                                                             registrations: dict[str, Any]) -> None:
    build()
    needed = {"hpc-head-secret-read", "hpc-head-bundle-read", "hpc-head-power", "hpc-head-boot-value",
              "hpc-head-address"}
    depends = {urn.rsplit("::", 1)[1] for urn in registrations[f"{INSTANCE}::hpc-head"].dependencies}
    assert needed <= depends, depends


def test_user_data_past_ec2s_limit_is_refused() -> None:
    assert within_ec2_limit("x" * USER_DATA_LIMIT) == "x" * USER_DATA_LIMIT
    with pytest.raises(ValueError, match=f"user data of {USER_DATA_LIMIT + 1} bytes exceeds EC2's {USER_DATA_LIMIT}"):
        within_ec2_limit("x" * (USER_DATA_LIMIT + 1))


@pytest.mark.parametrize("networking", ["rdma", "none"])
def test_every_resource_passes_the_security_rules(cluster_mocks: RecordingMocks, networking: str) -> None:
    build(partitions=one_partition(networking=networking))
    assert {r.type for r in cluster_mocks.resources} >= {INSTANCE, TEMPLATE,
                                                         "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"}
    findings = [f.line() for r in cluster_mocks.resources for f in check_resource(r.type, r.inputs, r.name)]
    assert findings == []


@pytest.mark.parametrize(("cpu_max", "efa_min", "efa_max"), [(2, 2, 2), (100, 0, 8), (1000, 8, 1000)])
def test_keys_resources_and_user_data_do_not_grow_with_max_or_min(cluster_mocks: RecordingMocks, cpu_max: int,
                                                                  efa_min: int, efa_max: int) -> None:
    build(partitions=two_partitions(cpu_max=1, efa_min=1, efa_max=1))
    small = Counter(r.type for r in cluster_mocks.resources)
    small_sizes = {name: len(text) for name, text in user_data(cluster_mocks).items()}
    cluster_mocks.resources.clear()
    build(partitions=two_partitions(cpu_max=cpu_max, efa_min=efa_min, efa_max=efa_max))
    assert Counter(r.type for r in cluster_mocks.resources) == small
    assert small["tls:index/privateKey:PrivateKey"] == 2  # head host key, one compute host key
    assert small["random:index/randomBytes:RandomBytes"] == 1  # the munge key
    assert small[TEMPLATE] == 2 and small[INSTANCE] == 1
    for name, text in user_data(cluster_mocks).items():
        assert abs(len(text) - small_sizes[name]) < 64, name  # a few digits more, never a list of nodes


@pytest.mark.parametrize(("networking", "instance_type", "rule"), [
    ("rdma", "t3.micro", "efa-unsupported"), ("enhanced", "c1.medium", "ena-unsupported")])
def test_networking_an_instance_type_lacks_is_refused(mocks: RecordingMocks, networking: str, instance_type: str,
                                                      rule: str) -> None:
    with pytest.raises(SecurityViolation, match=rf"\[{rule}\] compute.instance_type: {instance_type} "):
        SlurmCluster("hpc", cluster_args(partitions=one_partition(networking, instance_type)))
    assert mocks.resources == []
