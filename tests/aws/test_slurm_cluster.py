"""The AWS Slurm cluster component against recording mocks: EFA fleet in a cluster placement group,
IMDSv2 and encryption everywhere, a least-privilege node role, a private bundle bucket, the keys in Secrets
Manager (readable by the node role only, never in user data), and a resource count that does not grow with the
node count."""

from __future__ import annotations

import base64
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.aws.slurm_cluster import (
    USER_DATA_LIMIT,
    SlurmCluster,
    SlurmClusterArgs,
    architecture,
    bundle_key,
    within_ec2_limit,
)
from components.fleet import FLEET_TAG_KEY
from components.security import SecurityViolation, check_resource
from spec import environment as spec
from tests.aws.mocks import CALLS, FAKE_ED25519, MOCK_MUNGE, MOCK_PRIVATE, USER_KEY, RecordingMocks
from tests.boot.documents import boot_of, parsed
from tests.pulumi_helpers import plain_strings, secret_value

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
INSTANCE = "aws:ec2/instance:Instance"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GROUP = "aws:autoscaling/group:Group"
PLACEMENT = "aws:ec2/placementGroup:PlacementGroup"


@pytest.fixture
def cluster_mocks(mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingMocks]:
    """The shared recorder; the AMI answer also names its root device, which the launch template maps."""
    monkeypatch.setitem(CALLS, "aws:ec2/getAmi:getAmi", {**CALLS["aws:ec2/getAmi:getAmi"],
                                                         "rootDeviceName": "/dev/xvda"})
    yield mocks


def cluster_args(count: int = 2, networking: str = "rdma", instance_type: str = "c5n.18xlarge",
                 head_type: str = "c5n.large", ansible_dir: Path = ANSIBLE) -> SlurmClusterArgs:
    return SlurmClusterArgs(
        cluster_name="hpc", head=spec.Head(instance_type=head_type),
        compute=spec.Partition(name="compute", min=count, max=count, instance_type=instance_type,
                               networking=networking),
        ssh_user="ec2-user", ssh_public_key=USER_KEY, head_subnet_id="subnet-public0",
        compute_subnet_id="subnet-private0", head_security_group_id="sg-head",
        cluster_security_group_id="sg-cluster", ansible_dir=ansible_dir, tags={"project": "chpc"})


def build(**kwargs: Any) -> dict[str, Any]:
    """Declare the cluster; return its outputs (read through apply) and their secret flags."""
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        cluster = SlurmCluster("hpc", cluster_args(**kwargs))
        seen["compute_tag"] = cluster.compute_tag
        names = ("head_instance_id", "head_public_ip", "head_private_ip", "head_host_key", "compute_host_key",
                 "compute_group_name", "bundle_bucket")
        for attr in names:
            getattr(cluster, attr).apply(lambda value, attr=attr: seen.__setitem__(attr, value))
        return pulumi.Output.all(*(getattr(cluster, attr) for attr in names))

    program()
    return seen


def test_compute_fleet_is_one_group_in_a_cluster_placement_group(cluster_mocks: RecordingMocks) -> None:
    outputs = build(count=4)
    placement = cluster_mocks.one(PLACEMENT)
    assert placement.inputs["strategy"] == "cluster"
    group = cluster_mocks.one(GROUP).inputs
    assert group["placementGroup"] == placement.name
    assert group["desiredCapacity"] == group["minSize"] == group["maxSize"] == 4
    assert group["vpcZoneIdentifiers"] == ["subnet-private0"]
    assert group["launchTemplate"] == {"id": f"{cluster_mocks.one(TEMPLATE).name}-id", "version": "$Latest"}
    assert group["tags"] == [{"key": FLEET_TAG_KEY, "value": "hpc", "propagateAtLaunch": True}]
    assert outputs["compute_tag"] == (FLEET_TAG_KEY, "hpc")
    assert outputs["compute_group_name"] == cluster_mocks.one(GROUP).name


def test_rdma_puts_an_efa_interface_carrying_the_cluster_group(cluster_mocks: RecordingMocks) -> None:
    build(networking="rdma")
    template = cluster_mocks.one(TEMPLATE).inputs
    assert template["networkInterfaces"] == [{
        "interfaceType": "efa", "networkCardIndex": 0, "deviceIndex": 0, "securityGroups": ["sg-cluster"],
        "associatePublicIpAddress": "false", "deleteOnTermination": "true"}]
    assert "vpcSecurityGroupIds" not in template  # would conflict with the interface's groups
    assert "subnetId" not in template["networkInterfaces"][0]  # the group places nodes in its subnet


@pytest.mark.parametrize("networking", ["none", "enhanced"])
def test_other_networking_gets_a_plain_interface(cluster_mocks: RecordingMocks, networking: str) -> None:
    build(networking=networking, instance_type="c5n.9xlarge")
    template = cluster_mocks.one(TEMPLATE).inputs
    assert template["networkInterfaces"] == [{"deviceIndex": 0, "securityGroups": ["sg-cluster"],
                                              "associatePublicIpAddress": "false", "deleteOnTermination": "true"}]
    assert "vpcSecurityGroupIds" not in template


def test_burstable_compute_stays_out_of_a_placement_group(cluster_mocks: RecordingMocks) -> None:
    build(networking="none", instance_type="t3.large")
    assert cluster_mocks.of_type(PLACEMENT) == []
    assert "placementGroup" not in cluster_mocks.one(GROUP).inputs


def test_imdsv2_and_encrypted_roots_on_head_and_template(cluster_mocks: RecordingMocks) -> None:
    build()
    head = cluster_mocks.one(INSTANCE).inputs
    template = cluster_mocks.one(TEMPLATE).inputs
    for options in (head["metadataOptions"], template["metadataOptions"]):
        assert options["httpTokens"] == "required"
        assert options["httpPutResponseHopLimit"] == 1
        assert options["httpEndpoint"] == "enabled"
    assert head["rootBlockDevice"]["encrypted"] is True
    assert head["rootBlockDevice"]["volumeType"] == "gp3"
    (mapping,) = template["blockDeviceMappings"]
    assert mapping["deviceName"] == "/dev/xvda"  # the AMI's root device, so this mapping is the root volume
    assert mapping["ebs"]["encrypted"] == "true"
    assert mapping["ebs"]["volumeType"] == "gp3"


def test_head_sits_in_the_public_subnet_with_both_groups(cluster_mocks: RecordingMocks) -> None:
    outputs = build()
    head = cluster_mocks.one(INSTANCE)
    assert head.inputs["subnetId"] == "subnet-public0"
    assert head.inputs["vpcSecurityGroupIds"] == ["sg-head", "sg-cluster"]
    assert head.inputs["associatePublicIpAddress"] is True
    assert head.inputs["tags"] == {"project": "chpc", "Name": "hpc-head"}
    assert head.inputs["ami"] == CALLS["aws:ec2/getAmi:getAmi"]["id"]
    assert cluster_mocks.one(TEMPLATE).inputs["imageId"] == CALLS["aws:ec2/getAmi:getAmi"]["id"]
    assert outputs["head_public_ip"] == "198.51.100.10" and outputs["head_private_ip"] == "10.0.1.10"
    assert outputs["head_instance_id"] == f"{head.name}-id"


def test_images_are_debian_12_of_each_instance_types_architecture(cluster_mocks: RecordingMocks) -> None:
    build(head_type="c7g.large", instance_type="c5n.18xlarge")
    amis = [args for token, args in cluster_mocks.calls if token == "aws:ec2/getAmi:getAmi"]
    assert len(amis) == 2
    filters = [{f["name"]: f["values"] for f in args["filters"]} for args in amis]
    assert [f["architecture"] for f in filters] == [["arm64"], ["x86_64"]]  # head, then compute
    assert [f["name"] for f in filters] == [["debian-12-arm64-*"], ["debian-12-amd64-*"]]
    assert all(args["owners"] == ["136693071363"] and args["mostRecent"] is True for args in amis)


@pytest.mark.parametrize(("instance_type", "arch"), [
    ("c5n.18xlarge", "x86_64"), ("g4dn.xlarge", "x86_64"), ("g5.xlarge", "x86_64"), ("m7i-flex.large", "x86_64"),
    ("c6gn.16xlarge", "arm64"), ("hpc7g.16xlarge", "arm64"), ("t4g.micro", "arm64"), ("a1.large", "arm64"),
    ("g5g.xlarge", "arm64"), ("im4gn.large", "arm64"),
])
def test_architecture_of_instance_types(instance_type: str, arch: str) -> None:
    assert architecture(instance_type) == arch


def test_node_role_may_use_ssm_and_read_the_bundle_and_the_boot_secrets_only(cluster_mocks: RecordingMocks) -> None:
    build()
    role = cluster_mocks.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                   "Principal": {"Service": "ec2.amazonaws.com"}}]
    (attachment,) = cluster_mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == SSM_CORE
    bucket = cluster_mocks.one("aws:s3/bucket:Bucket")
    key = cluster_mocks.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs["key"]
    policies = {p.name: json.loads(p.inputs["policy"]) for p in cluster_mocks.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert set(policies) == {"hpc-node-bundle-read", "hpc-node-secrets-read"}
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in policies["hpc-node-bundle-read"]["Statement"]] == [
        ("Allow", ["s3:GetObject"], [f"arn:aws:mock:us-east-1:123456789012:{bucket.name}/{key}"])]
    secrets = sorted(f"arn:aws:mock:us-east-1:123456789012:{secret.name}"
                     for secret in cluster_mocks.of_type("aws:secretsmanager/secret:Secret"))
    assert [(s["Effect"], s["Action"], sorted(s["Resource"]))
            for s in policies["hpc-node-secrets-read"]["Statement"]] == [
        ("Allow", ["secretsmanager:GetSecretValue"], secrets)]
    assert len(secrets) == 2
    profile = cluster_mocks.one("aws:iam/instanceProfile:InstanceProfile")
    assert profile.inputs["role"] == role.name
    assert cluster_mocks.one(INSTANCE).inputs["iamInstanceProfile"] == profile.name
    assert cluster_mocks.one(TEMPLATE).inputs["iamInstanceProfile"] == {
        "arn": f"arn:aws:mock:us-east-1:123456789012:{profile.name}"}


def test_bundle_bucket_is_private_encrypted_and_tls_only(cluster_mocks: RecordingMocks) -> None:
    outputs = build()
    bucket = cluster_mocks.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["forceDestroy"] is True
    assert outputs["bundle_bucket"] == f"{bucket.name}-bucket"
    encryption = cluster_mocks.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                                   "BucketServerSideEncryptionConfiguration").inputs
    assert encryption["bucket"] == outputs["bundle_bucket"]
    assert encryption["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    block = cluster_mocks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert {k: block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                  "restrictPublicBuckets")} == dict.fromkeys(("blockPublicAcls", "blockPublicPolicy",
                                                                              "ignorePublicAcls",
                                                                              "restrictPublicBuckets"), True)
    (deny,) = json.loads(cluster_mocks.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bundle = cluster_mocks.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs
    assert isinstance(bundle["source"], pulumi.FileArchive) and bundle["source"].path == str(ANSIBLE)
    assert bundle["key"] == bundle_key(ANSIBLE)


def test_bundle_key_follows_the_roles_content(tmp_path: Path) -> None:
    copy = tmp_path / "ansible"
    shutil.copytree(ANSIBLE, copy)
    assert bundle_key(copy) == bundle_key(ANSIBLE)
    assert bundle_key(copy).startswith("bundles/ansible-") and bundle_key(copy).endswith(".zip")
    template = copy / "roles" / "slurm" / "templates" / "slurm.conf.j2"
    template.write_text(template.read_text() + "# changed\n")
    assert bundle_key(copy) != bundle_key(ANSIBLE)


def user_data(mocks: RecordingMocks) -> tuple[str, str]:
    """The head's and the compute template's user data as cloud-init reads them (plain: they hold no secret)."""
    head = mocks.one(INSTANCE).inputs["userData"]
    return head, base64.b64decode(mocks.one(TEMPLATE).inputs["userData"]).decode()


def test_user_data_holds_no_key_and_names_its_roles_secret(cluster_mocks: RecordingMocks) -> None:
    outputs = build()
    secrets = {secret.name: secret for secret in cluster_mocks.of_type("aws:secretsmanager/secret:Secret")}
    for role, text in zip(("head", "compute"), user_data(cluster_mocks), strict=True):
        script = boot_of(parsed(text))
        assert script.startswith("#!/bin/sh\n") and f"boot the {role} node of cluster hpc" in script
        assert USER_KEY in script and "aws s3 cp" in script
        assert MOCK_MUNGE not in text and MOCK_PRIVATE not in text and "PRIVATE KEY" not in text
        arn = f"arn:aws:mock:us-east-1:123456789012:hpc-{role}-boot"
        assert f"--secret-id {arn} --region us-east-1 --endpoint https://secretsmanager.us-east-1.amazonaws.com" \
            in script
        assert secrets[f"hpc-{role}-boot"].inputs["recoveryWindowInDays"] == 0
        assert len(text.encode()) < 16384  # EC2's user data limit
    assert "head_address=10.0.1.10\n" in boot_of(parsed(user_data(cluster_mocks)[1]))  # the head's private IP
    assert "hostname -I" in boot_of(parsed(user_data(cluster_mocks)[0]))  # the head finds its own address at boot
    public = " ".join(FAKE_ED25519.split()[:2])
    assert outputs["head_host_key"] == outputs["compute_host_key"] == public


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
    for text, pinned in zip(user_data(cluster_mocks), (outputs["head_host_key"], outputs["compute_host_key"]),
                            strict=True):
        document = parsed(text)
        assert "ssh_keys" not in document
        assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == []
        assert f"printf '%s\\n' '{FAKE_ED25519}' > /etc/ssh/ssh_host_ed25519_key.pub" in boot_of(document)
        assert " ".join(FAKE_ED25519.split()[:2]) == pinned  # the key the outputs pin


def test_instances_start_once_their_secret_and_its_permission_exist(cluster_mocks: RecordingMocks,
                                                                   registrations: dict[str, Any]) -> None:
    build()
    needed = {"hpc-node-secrets-read", "hpc-head-boot-value", "hpc-compute-boot-value"}
    for started in (f"{INSTANCE}::hpc-head", f"{GROUP}::hpc-compute"):
        depends = {urn.rsplit("::", 1)[1] for urn in registrations[started].dependencies}
        assert needed <= depends, (started, depends)


def test_user_data_past_ec2s_limit_is_refused() -> None:
    assert within_ec2_limit("x" * USER_DATA_LIMIT) == "x" * USER_DATA_LIMIT
    with pytest.raises(ValueError, match=f"user data of {USER_DATA_LIMIT + 1} bytes exceeds EC2's {USER_DATA_LIMIT}"):
        within_ec2_limit("x" * (USER_DATA_LIMIT + 1))


@pytest.mark.parametrize("networking", ["rdma", "none"])
def test_every_resource_passes_the_security_rules(cluster_mocks: RecordingMocks, networking: str) -> None:
    build(networking=networking)
    assert {r.type for r in cluster_mocks.resources} >= {INSTANCE, TEMPLATE,
                                                         "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"}
    findings = [f.line() for r in cluster_mocks.resources for f in check_resource(r.type, r.inputs, r.name)]
    assert findings == []


def test_keys_and_resources_do_not_grow_with_the_node_count(cluster_mocks: RecordingMocks) -> None:
    build(count=2)
    small = Counter(r.type for r in cluster_mocks.resources)
    cluster_mocks.resources.clear()
    build(count=1000)
    large = Counter(r.type for r in cluster_mocks.resources)
    assert small == large
    assert large["tls:index/privateKey:PrivateKey"] == 2  # head host key, one compute fleet host key
    assert large["random:index/randomBytes:RandomBytes"] == 1  # the munge key
    assert cluster_mocks.one(GROUP).inputs["maxSize"] == 1000


@pytest.mark.parametrize(("networking", "instance_type", "rule"), [
    ("rdma", "t3.micro", "efa-unsupported"), ("enhanced", "c1.medium", "ena-unsupported")])
def test_networking_an_instance_type_lacks_is_refused(mocks: RecordingMocks, networking: str, instance_type: str,
                                                      rule: str) -> None:
    with pytest.raises(SecurityViolation, match=rf"\[{rule}\] compute.instance_type: {instance_type} "):
        SlurmCluster("hpc", cluster_args(networking=networking, instance_type=instance_type))
    assert mocks.resources == []
