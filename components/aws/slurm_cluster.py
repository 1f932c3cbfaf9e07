"""A Slurm cluster on EC2: one head instance in a public subnet and a fixed-size Auto Scaling group of
compute nodes in one cluster placement group, every node configured at first boot by the same
``ansible/`` roles as the local target (shipped as one S3 object, run by the boot script its cloud-config carries).

The resources do not grow with the node count: compute nodes share one launch template, one host key
and one munge key, and register with Slurm by themselves (dynamic nodes); tasks find them by tag.

The keys never travel in user data (anyone allowed ``ec2:DescribeLaunchTemplateVersions`` reads it): they wait in
Secrets Manager, one secret per node role, which the boot script reads with the instance role (``_boot_secrets``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pulumi_tls as tls
from pulumi import Input, Output

from components.boot.cloud_config import cloud_config
from components.boot.config import AwsSecret, BootConfig, Role, S3Bundle, SshLogin
from components.boot.node_secrets import secret_document
from components.fleet import FLEET_TAG_KEY, openssh_public
from components.security import refuse
from spec import environment as spec
from spec.machine_types import check_instance_networking

ROOT_VOLUME_GB = 32
# Graviton families (arm64): a1, c6g, c7gn, m6gd, t4g, hpc7g, im4gn, ... ; g5 or g4dn are x86_64 GPUs.
ARM_FAMILY = re.compile(r"a1|[a-z]+\d+[a-z]*g[a-z]*")
# Families EC2 keeps out of cluster placement groups: burstable (t3, t4g, ...) and flex (m7i-flex, ...).
NO_CLUSTER_PLACEMENT = re.compile(r"t\d+[a-z]*|[a-z]+\d+[a-z]*-flex")
USER_DATA_LIMIT = 16384  # bytes EC2 takes, before base64


@dataclass(frozen=True)
class SlurmClusterArgs:
    cluster_name: str
    head: spec.Head
    compute: spec.Partition  # the one static partition (spec.Environment refuses more on the clouds, for now)
    ssh_user: str
    ssh_public_key: str  # the user's public key line
    head_subnet_id: Input[str]  # a public subnet
    compute_subnet_id: Input[str]  # one private subnet: a cluster placement group lives in one zone
    head_security_group_id: Input[str]
    cluster_security_group_id: Input[str]
    ansible_dir: Path  # the project's ansible/ folder, shipped to the nodes as one S3 object
    tags: dict[str, str]
    # Each node role's tunables (what it mounts: stacks/slurm.py); may hold outputs (the volume ids, the
    # file system's name), resolved before the user data is rendered.
    boot_vars: Mapping[Role, Mapping[str, Any]] = field(default_factory=dict)


DEBIAN_OWNER = "136693071363"  # the Debian project's AWS account (wiki.debian.org/Cloud/AmazonEC2Image)


def architecture(instance_type: str) -> str:
    """The AMI architecture an instance type runs (the family is the part before the dot)."""
    return "arm64" if ARM_FAMILY.fullmatch(instance_type.split(".")[0]) else "x86_64"


def within_ec2_limit(document: str) -> str:
    """``document``, or a refusal at deploy time naming EC2's limit (an instance would not even launch)."""
    size = len(document.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user data of {size} bytes exceeds EC2's {USER_DATA_LIMIT}: the boot script has grown "
                         "too large; move what it carries into the S3 bundle")
    return document


def bundle_key(ansible_dir: Path) -> str:
    """The bundle's S3 key, named by a hash of every file, so changed roles replace the object."""
    digest = hashlib.sha256()
    for path in sorted(p for p in ansible_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(ansible_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"bundles/ansible-{digest.hexdigest()[:20]}.zip"


def bucket_tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy denying every request not made over TLS."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def read_secrets_policy(secret_arns: list[str]) -> str:
    """The node role's only access to Secrets Manager: reading the value of exactly these secrets."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadTheBootSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         "Resource": secret_arns}]})


def _read_bundle(object_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadTheBundle", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [object_arn]}]})


class SlurmCluster(pulumi.ComponentResource):
    """Head instance, compute Auto Scaling group, the node role and the bundle bucket of one cluster."""

    head_instance_id: pulumi.Output[str]
    head_public_ip: pulumi.Output[str]
    head_private_ip: pulumi.Output[str]
    head_host_key: pulumi.Output[str]
    compute_host_key: pulumi.Output[str]
    compute_group_name: pulumi.Output[str]
    compute_tag: tuple[str, str]
    bundle_bucket: pulumi.Output[str]

    def __init__(self, name: str, args: SlurmClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not (args.head.instance_type and args.compute.instance_type):
            raise ValueError("SlurmCluster: head.instance_type and compute.instance_type are required")
        refuse(check_instance_networking(args.compute.instance_type, args.compute.networking))
        super().__init__("cloud-hpc-toolkit:aws:SlurmCluster", name, None, opts)
        self._name = name
        self._tags = args.tags
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region(opts=invoke).region
        head_name = f"{args.cluster_name}-head"

        partition = aws.get_partition(opts=invoke)
        bucket, bundle = self._bundle(args.ansible_dir)

        # Generated at deploy time, a fixed number whatever the node count; they stay in the state (secret) and in
        # Secrets Manager, never in user data.
        head_key = tls.PrivateKey(f"{name}-head-host-key", algorithm="ED25519", opts=self._child())
        compute_key = tls.PrivateKey(f"{name}-compute-host-key", algorithm="ED25519", opts=self._child())
        munge_key = random.RandomBytes(f"{name}-munge-key", length=1024, opts=self._child())
        secrets, stored = self._boot_secrets(munge_key, {"head": head_key, "compute": compute_key})
        profile, permissions = self._node_role(bucket, bundle, list(secrets.values()), partition)
        permissions += stored
        endpoint = f"https://secretsmanager.{region}.{partition.dns_suffix}"

        def user_data(role: Role, values: dict[str, Any]) -> str:
            """The cloud-config of a ``role`` node, known once its secret, the bundle (and what it mounts) exist.
            Names the secret, holds none."""
            return within_ec2_limit(cloud_config(BootConfig(
                role=role, cluster_name=args.cluster_name, head_name=head_name,
                munge_key=AwsSecret(values["secret"], region, endpoint),
                bundle=S3Bundle(values["bucket"], values["key"], region),
                head_address=values.get("head_ip"), login=SshLogin(args.ssh_user, args.ssh_public_key),
                host_public_key=values["public"].strip(), tunables=values["tunables"])))

        common = {"bucket": bucket.bucket, "key": bundle.key}
        head_image = self._image(args.head.instance_type, invoke)
        head_user_data = Output.all(**common, tunables=args.boot_vars.get("head", {}),
                                    secret=secrets["head"].arn,
                                    public=head_key.public_key_openssh).apply(lambda v: user_data("head", v))
        head = aws.ec2.Instance(
            f"{name}-head", ami=head_image.id, instance_type=args.head.instance_type, subnet_id=args.head_subnet_id,
            vpc_security_group_ids=[args.head_security_group_id, args.cluster_security_group_id],
            associate_public_ip_address=True, iam_instance_profile=profile.name,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(**self._imds()),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3", volume_size=ROOT_VOLUME_GB, encrypted=True, delete_on_termination=True),
            user_data=head_user_data,
            tags={**args.tags, "Name": head_name}, volume_tags={**args.tags, "Name": head_name},
            # cloud-init runs user data once per instance: a changed bundle key would only stop and start the
            # head (an in-place user data update) without configuring anything, so it is not applied
            opts=pulumi.ResourceOptions.merge(self._child(depends_on=permissions),
                                              pulumi.ResourceOptions(ignore_changes=["user_data"])))

        compute_image = self._image(args.compute.instance_type, invoke)
        compute_user_data = Output.all(**common, head_ip=head.private_ip, tunables=args.boot_vars.get("compute", {}),
                                       secret=secrets["compute"].arn,
                                       public=compute_key.public_key_openssh).apply(lambda v: user_data("compute", v))
        interface = aws.ec2.LaunchTemplateNetworkInterfaceArgs(
            device_index=0, security_groups=[args.cluster_security_group_id], associate_public_ip_address="false",
            delete_on_termination="true",
            **({"interface_type": "efa", "network_card_index": 0} if args.compute.networking == "rdma" else {}))
        compute_name = f"{args.cluster_name}-compute"
        template = aws.ec2.LaunchTemplate(
            f"{name}-compute", image_id=compute_image.id, instance_type=args.compute.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(**self._imds()),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=compute_image.root_device_name, ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_type="gp3", volume_size=ROOT_VOLUME_GB, encrypted="true", delete_on_termination="true"))],
            # the security group sits on the interface: a template-level vpc_security_group_ids would conflict
            network_interfaces=[interface],
            user_data=compute_user_data.apply(lambda s: base64.b64encode(s.encode()).decode()),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(
                resource_type=kind, tags={**args.tags, "Name": compute_name}) for kind in ("instance", "volume")],
            update_default_version=True, tags=args.tags, opts=self._child())

        placement = None
        if not NO_CLUSTER_PLACEMENT.fullmatch(args.compute.instance_type.split(".")[0]):
            placement = aws.ec2.PlacementGroup(f"{name}-compute-placement", strategy="cluster", tags=args.tags,
                                               opts=self._child())
        self.compute_tag = (FLEET_TAG_KEY, args.cluster_name)
        # Fixed size for now: min = max = desired.
        count = args.compute.max
        group = aws.autoscaling.Group(
            f"{name}-compute", desired_capacity=count, min_size=count, max_size=count,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version="$Latest"),
            vpc_zone_identifiers=[args.compute_subnet_id], placement_group=placement.name if placement else None,
            tags=[aws.autoscaling.GroupTagArgs(key=self.compute_tag[0], value=self.compute_tag[1],
                                               propagate_at_launch=True)],
            opts=self._child(depends_on=permissions))

        self.head_instance_id = head.id
        self.head_public_ip = head.public_ip
        self.head_private_ip = head.private_ip
        self.head_host_key = head_key.public_key_openssh.apply(openssh_public)
        self.compute_host_key = compute_key.public_key_openssh.apply(openssh_public)
        self.compute_group_name = group.name
        self.bundle_bucket = bucket.bucket
        self.register_outputs({
            "head_instance_id": self.head_instance_id, "head_public_ip": self.head_public_ip,
            "head_private_ip": self.head_private_ip,
            "head_host_key": self.head_host_key, "compute_host_key": self.compute_host_key,
            "compute_group_name": self.compute_group_name, "compute_tag": list(self.compute_tag),
            "bundle_bucket": self.bundle_bucket,
        })

    def _child(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on)

    @staticmethod
    def _imds() -> dict[str, object]:
        """IMDSv2 only. Hop limit 1: nothing runs in containers on the nodes, and a container's extra hop
        could otherwise reach the node role's credentials."""
        return {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled"}

    def _image(self, instance_type: str, invoke: pulumi.InvokeOptions) -> aws.ec2.AwaitableGetAmiResult:
        """The latest Debian 12 image (Debian's own account) for the instance type's architecture.

        Debian, because the roles install Slurm 22.05, munge and Open MPI from its packages, exactly as on
        the local target; Amazon Linux 2023 ships no Slurm at all.
        """
        arch = architecture(instance_type)
        debian_arch = "amd64" if arch == "x86_64" else "arm64"
        return aws.ec2.get_ami(most_recent=True, owners=[DEBIAN_OWNER], filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[f"debian-12-{debian_arch}-*"]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=[arch]),
            aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
        ], opts=invoke)

    def _bundle(self, ansible_dir: Path) -> tuple[aws.s3.Bucket, aws.s3.BucketObjectv2]:
        """A private, encrypted, TLS-only bucket holding the ansible/ folder as one zip object."""
        name = self._name
        bucket = aws.s3.Bucket(f"{name}-bundle", force_destroy=True, tags=self._tags, opts=self._child())
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bundle-encryption", bucket=bucket.bucket,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3
                .BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))],
            opts=self._child())
        private = aws.s3.BucketPublicAccessBlock(
            f"{name}-bundle-public-access", bucket=bucket.bucket, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=self._child())
        aws.s3.BucketPolicy(f"{name}-bundle-tls-only", bucket=bucket.bucket,
                            policy=bucket.arn.apply(bucket_tls_only_policy),
                            opts=self._child(depends_on=[private]))
        bundle = aws.s3.BucketObjectv2(
            f"{name}-bundle-ansible", bucket=bucket.bucket, key=bundle_key(ansible_dir),
            source=pulumi.FileArchive(str(ansible_dir)), content_type="application/zip", tags=self._tags,
            opts=self._child(depends_on=[encryption]))
        return bucket, bundle

    def _boot_secrets(self, munge_key: random.RandomBytes, host_keys: Mapping[Role, tls.PrivateKey],
                      ) -> tuple[dict[Role, aws.secretsmanager.Secret], list[pulumi.Resource]]:
        """One secret per node role: the munge key and that role's host private key, which its boot script reads
        in one request. Per role, not per key: a node fetches and holds only what its role installs (never the
        other role's host key), in one call. Encrypted with Secrets Manager's AWS-managed key (the role then needs
        no KMS permission); deleted without a recovery window, since the keys of a destroyed environment open
        nothing and a secret waiting for deletion would outlive ``destroy``."""
        secrets: dict[Role, aws.secretsmanager.Secret] = {}
        values: list[pulumi.Resource] = []
        for role, host_key in host_keys.items():
            secret = aws.secretsmanager.Secret(
                f"{self._name}-{role}-boot",
                description=f"munge key and host key of the {role} nodes (cloud-hpc-toolkit)",
                recovery_window_in_days=0, tags=self._tags, opts=self._child())
            document = Output.all(munge_key.base64, host_key.private_key_openssh).apply(
                lambda v: secret_document(*v))
            values.append(aws.secretsmanager.SecretVersion(
                f"{self._name}-{role}-boot-value", secret_id=secret.id, secret_string=Output.secret(document),
                opts=self._child()))
            secrets[role] = secret
        return secrets, values

    def _node_role(self, bucket: aws.s3.Bucket, bundle: aws.s3.BucketObjectv2,
                   secrets: list[aws.secretsmanager.Secret], partition: aws.AwaitableGetPartitionResult,
                   ) -> tuple[aws.iam.InstanceProfile, list[pulumi.Resource]]:
        """The nodes' role: SSM Session Manager, reading the bundle object and the boot secrets, nothing else."""
        name = self._name
        role = aws.iam.Role(f"{name}-node-role", assume_role_policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": f"ec2.{partition.dns_suffix}"}}]}),
            tags=self._tags, opts=self._child())
        ssm = aws.iam.RolePolicyAttachment(
            f"{name}-node-ssm", role=role.name,
            policy_arn=f"arn:{partition.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore", opts=self._child())
        read = aws.iam.RolePolicy(
            f"{name}-node-bundle-read", role=role.id,
            policy=Output.concat(bucket.arn, "/", bundle.key).apply(_read_bundle), opts=self._child())
        read_secrets = aws.iam.RolePolicy(
            f"{name}-node-secrets-read", role=role.id,
            policy=Output.all(*(secret.arn for secret in secrets)).apply(read_secrets_policy), opts=self._child())
        profile = aws.iam.InstanceProfile(f"{name}-node-profile", role=role.name, tags=self._tags,
                                          opts=self._child())
        return profile, [ssm, read, read_secrets]
