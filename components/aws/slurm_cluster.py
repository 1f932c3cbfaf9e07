"""A Slurm cluster on EC2: one head instance in a public subnet and, per partition, a launch template (and cluster
placement group) its nodes start from, every node configured at first boot by the same ``ansible/`` roles as the
local target (shipped as one S3 object, run by the boot script its cloud-config carries).

No compute instance is declared here: slurm.conf names every node of every partition (elastic_slurm.py), and the
head's resume program (``components/boot/ec2_power.py``, with the head's role's ``head_power_policy``) launches a
node from its partition's template when Slurm wants it, the always-on ones as the head boots; a node learns its name
from its ``chpc:node`` tag. So the resources do not grow with the node count: the nodes share one host key and one
munge key, and tasks find them by tag.

The keys never travel in user data (anyone allowed ``ec2:DescribeLaunchTemplateVersions`` reads it): they wait in
Secrets Manager, one secret per node role, which the boot script reads with that role's instance role
(``_boot_secrets``). The head has its own network interface, so its private address is known before it exists:
the templates' user data names it, and the head's power config names the templates.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pulumi_tls as tls
from pulumi import Input, Output

from components.aws.elastic_slurm import slurm_vars
from components.aws.node_image import architecture, node_image, on_ubuntu
from components.aws.partition import ROOT_VOLUME_GB, ComputePartition, PartitionArgs
from components.aws.power_policy import head_power_policy
from components.boot.cloud_config import cloud_config
from components.boot.config import AwsSecret, BootConfig, Role, S3Bundle, SshLogin
from components.boot.ec2_power import ENVIRONMENT_TAG, NODE_TAG, PartitionLaunch, power_config
from components.boot.node_secrets import secret_document
from components.boot.power_files import bundled_programs, power_files
from components.cloud_partitions import declared_nodes
from components.fleet import openssh_public
from components.security import refuse
from spec import environment as spec
from spec.machine_types import check_instance_networking

USER_DATA_LIMIT = 16384  # bytes EC2 takes, before base64


@dataclass(frozen=True)
class SlurmClusterArgs:
    cluster_name: str
    head: spec.Head
    partitions: tuple[spec.Partition, ...]
    ssh_user: str
    ssh_public_key: str  # the user's public key line
    head_subnet_id: Input[str]  # a public subnet
    compute_subnet_id: Input[str]  # one private subnet: a cluster placement group lives in one zone
    head_security_group_id: Input[str]
    cluster_security_group_id: Input[str]
    ansible_dir: Path  # the project's ansible/ folder, shipped to the nodes as one S3 object
    tags: dict[str, str]
    scaling: spec.Scaling = field(default_factory=spec.Scaling)
    # Each node role's tunables (what it mounts: stacks/slurm.py); may hold outputs (the volume ids, the
    # file system's name), resolved before the user data is rendered.
    boot_vars: Mapping[Role, Mapping[str, Any]] = field(default_factory=dict)
    # A partition's own tunables over the compute ones (the networking its instance type has, for the mpi role).
    partition_vars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def within_ec2_limit(document: str) -> str:
    """``document``, or a refusal at deploy time naming EC2's limit (an instance would not even launch)."""
    size = len(document.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user data of {size} bytes exceeds EC2's {USER_DATA_LIMIT}: the boot script has grown "
                         "too large; move what it carries into the S3 bundle")
    return document


def bundle_files(ansible_dir: Path) -> dict[str, Path]:
    """What the bundle holds: every file of ``ansible_dir``, and the head's power programs beside."""
    files = {path.relative_to(ansible_dir).as_posix(): path for path in ansible_dir.rglob("*") if path.is_file()}
    return {**files, **bundled_programs()}


def bundle_key(ansible_dir: Path) -> str:
    """The bundle's S3 key, named by a hash of every file, so changed roles or programs replace the object."""
    digest = hashlib.sha256()
    for inside, path in sorted(bundle_files(ansible_dir).items()):
        digest.update(inside.encode() + b"\0" + path.read_bytes() + b"\0")
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
    """Head instance, one launch template per partition, the node roles and the bundle bucket of one cluster."""

    head_instance_id: pulumi.Output[str]
    head_public_ip: pulumi.Output[str]
    head_private_ip: pulumi.Output[str]
    head_host_key: pulumi.Output[str]
    compute_host_key: pulumi.Output[str]
    compute_tag: tuple[str, str]
    bundle_bucket: pulumi.Output[str]

    def __init__(self, name: str, args: SlurmClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not args.head.instance_type or not args.partitions or \
                not all(partition.instance_type for partition in args.partitions):
            raise ValueError("SlurmCluster: head.instance_type and a partition with an instance_type are required")
        for partition in args.partitions:
            refuse(check_instance_networking(partition.instance_type or "", partition.networking))
        super().__init__("cloud-hpc-toolkit:aws:SlurmCluster", name, None, opts)
        self._name = name
        self._tags = args.tags
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region(opts=invoke).region
        account = aws.get_caller_identity(opts=invoke).account_id
        head_name = f"{args.cluster_name}-head"

        partition = aws.get_partition(opts=invoke)
        bucket, bundle = self._bundle(args.ansible_dir)

        # Generated at deploy time, a fixed number whatever the node count; they stay in the state (secret) and in
        # Secrets Manager, never in user data.
        head_key = tls.PrivateKey(f"{name}-head-host-key", algorithm="ED25519", opts=self._child())
        compute_key = tls.PrivateKey(f"{name}-compute-host-key", algorithm="ED25519", opts=self._child())
        munge_key = random.RandomBytes(f"{name}-munge-key", length=1024, opts=self._child())
        secrets, stored = self._boot_secrets(munge_key, {"head": head_key, "compute": compute_key})
        compute_role, compute_profile, compute_permissions = self._node_role("compute", bucket, bundle,
                                                                             secrets["compute"], partition)
        head_role, head_profile, head_permissions = self._node_role("head", bucket, bundle, secrets["head"],
                                                                    partition)
        endpoint = f"https://secretsmanager.{region}.{partition.dns_suffix}"
        elastic = slurm_vars(args.partitions, args.scaling)
        nodes = declared_nodes(args.partitions)

        def user_data(role: Role, values: dict[str, Any], files: list[dict[str, str]]) -> str:
            """The cloud-config of a ``role`` node, known once its secret, the bundle (and what it mounts) exist.
            Names the secret, holds none."""
            return within_ec2_limit(cloud_config(BootConfig(
                role=role, cluster_name=args.cluster_name, head_name=head_name,
                munge_key=AwsSecret(values["secret"], region, endpoint),
                bundle=S3Bundle(values["bucket"], values["key"], region, dns_suffix=partition.dns_suffix),
                head_address=values.get("head_ip"), compute_nodes=nodes,
                login=SshLogin(args.ssh_user, args.ssh_public_key), host_public_key=values["public"].strip(),
                name_tag=NODE_TAG if role == "compute" else None, imds_users=("slurm",) if role == "head" else (),
                tunables={**elastic, **values["tunables"]}), files))

        # The head's own interface: its private address is known before the head, so the templates can name it
        # while the head's power config names the templates. Its public address is an Elastic IP on it.
        head_interface = aws.ec2.NetworkInterface(
            f"{name}-head-interface", subnet_id=args.head_subnet_id,
            security_groups=[args.head_security_group_id, args.cluster_security_group_id],
            tags={**args.tags, "Name": head_name}, opts=self._child())
        head_address = aws.ec2.Eip(f"{name}-head-address", domain="vpc", network_interface=head_interface.id,
                                   tags={**args.tags, "Name": head_name}, opts=self._child())

        common = {"bucket": bucket.bucket, "key": bundle.key}
        partitions: dict[str, ComputePartition] = {}
        ubuntu = on_ubuntu(args.partitions)
        for p in args.partitions:
            image = self._image(p.instance_type or "", p.gpus, ubuntu, invoke)
            tunables = {**args.boot_vars.get("compute", {}), **args.partition_vars.get(p.name, {})}
            compute_user_data = Output.all(**common, head_ip=head_interface.private_ip, tunables=tunables,
                                           secret=secrets["compute"].arn, public=compute_key.public_key_openssh,
                                           ).apply(lambda v: user_data("compute", v, []))
            partitions[p.name] = ComputePartition(f"{name}-{p.name}", PartitionArgs(
                partition=p, image_id=image.id, root_device_name=image.root_device_name,
                instance_profile_arn=compute_profile.arn, security_group_id=args.cluster_security_group_id,
                user_data=compute_user_data.apply(lambda text: base64.b64encode(text.encode()).decode()),
                tags=args.tags), opts=self._child(depends_on=compute_permissions))

        templates = [partitions[p.name].template_arn for p in args.partitions]
        power = aws.iam.RolePolicy(
            f"{name}-head-power", role=head_role.id,
            policy=Output.all(compute_role.arn, *templates).apply(lambda v: json.dumps(head_power_policy(
                args.cluster_name, list(v[1:]), region, v[0], account))), opts=self._child())
        launches = Output.all(args.compute_subnet_id, *(partitions[p.name].template_id for p in args.partitions))
        config = launches.apply(lambda v: power_config(region, args.cluster_name, {
            p.name: PartitionLaunch(launch_template_id=template, instance_types=tuple(p.instance_types),
                                    subnet_ids=(v[0],), spot=p.spot)
            for p, template in zip(args.partitions, v[1:], strict=True)}))

        head_image = self._image(args.head.instance_type, 0, ubuntu, invoke)
        head_user_data = Output.all(**common, tunables=args.boot_vars.get("head", {}), secret=secrets["head"].arn,
                                    public=head_key.public_key_openssh, config=config,
                                    ).apply(lambda v: user_data("head", v, power_files(v["config"])))
        head = aws.ec2.Instance(
            f"{name}-head", ami=head_image.id, instance_type=args.head.instance_type,
            primary_network_interface=aws.ec2.InstancePrimaryNetworkInterfaceArgs(
                network_interface_id=head_interface.id),
            iam_instance_profile=head_profile.name,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(**self._imds()),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3", volume_size=ROOT_VOLUME_GB, encrypted=True, delete_on_termination=True),
            user_data=head_user_data,
            tags={**args.tags, "Name": head_name}, volume_tags={**args.tags, "Name": head_name},
            # cloud-init runs user data once per instance: a changed bundle key would only stop and start the
            # head (an in-place user data update) without configuring anything, so it is not applied
            opts=pulumi.ResourceOptions.merge(
                self._child(depends_on=[*head_permissions, *stored, power, head_address]),
                pulumi.ResourceOptions(ignore_changes=["user_data"])))

        self.compute_tag = (ENVIRONMENT_TAG, args.cluster_name)
        self.head_instance_id = head.id
        self.head_public_ip = head_address.public_ip
        self.head_private_ip = head_interface.private_ip
        self.head_host_key = head_key.public_key_openssh.apply(openssh_public)
        self.compute_host_key = compute_key.public_key_openssh.apply(openssh_public)
        self.bundle_bucket = bucket.bucket
        self.register_outputs({
            "head_instance_id": self.head_instance_id, "head_public_ip": self.head_public_ip,
            "head_private_ip": self.head_private_ip,
            "head_host_key": self.head_host_key, "compute_host_key": self.compute_host_key,
            "compute_tag": list(self.compute_tag), "bundle_bucket": self.bundle_bucket,
        })

    def _child(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on)

    @staticmethod
    def _imds() -> dict[str, object]:
        """IMDSv2 only. Hop limit 1: nothing runs in containers on the nodes, and a container's extra hop
        could otherwise reach the node role's credentials."""
        return {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled"}

    def _image(self, instance_type: str, gpus: int, ubuntu: bool,
               invoke: pulumi.InvokeOptions) -> aws.ec2.AwaitableGetAmiResult:
        """The image :func:`components.aws.node_image.node_image` chooses, for the instance type's architecture:
        Debian 12's newest, or the one an Ubuntu image's public SSM parameter names, under its owner."""
        arch = architecture(instance_type)
        choice = node_image(instance_type, gpus, ubuntu)
        if choice.ssm_parameter:
            named = aws.ssm.get_parameter(name=choice.ssm_parameter, opts=invoke).value
            return aws.ec2.get_ami(owners=[choice.owner], filters=[
                aws.ec2.GetAmiFilterArgs(name="image-id", values=[named]),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=[arch]),
            ], opts=invoke)
        return aws.ec2.get_ami(most_recent=True, owners=[choice.owner], filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[choice.name_pattern or ""]),
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
            source=pulumi.AssetArchive({inside: pulumi.FileAsset(str(path))
                                        for inside, path in sorted(bundle_files(ansible_dir).items())}),
            content_type="application/zip", tags=self._tags,
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

    def _node_role(self, role_name: Role, bucket: aws.s3.Bucket, bundle: aws.s3.BucketObjectv2,
                   secret: aws.secretsmanager.Secret, partition: aws.AwaitableGetPartitionResult,
                   ) -> tuple[aws.iam.Role, aws.iam.InstanceProfile, list[pulumi.Resource]]:
        """A node role's role: SSM Session Manager, reading the bundle object and its own boot secret, nothing
        else (the head's gets its power policy beside)."""
        name = f"{self._name}-{role_name}"
        role = aws.iam.Role(f"{name}-role", assume_role_policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": f"ec2.{partition.dns_suffix}"}}]}),
            tags=self._tags, opts=self._child())
        ssm = aws.iam.RolePolicyAttachment(
            f"{name}-ssm", role=role.name,
            policy_arn=f"arn:{partition.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore", opts=self._child())
        read = aws.iam.RolePolicy(
            f"{name}-bundle-read", role=role.id,
            policy=Output.concat(bucket.arn, "/", bundle.key).apply(_read_bundle), opts=self._child())
        read_secret = aws.iam.RolePolicy(
            f"{name}-secret-read", role=role.id,
            policy=secret.arn.apply(lambda arn: read_secrets_policy([arn])), opts=self._child())
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=self._tags, opts=self._child())
        return role, profile, [ssm, read, read_secret, profile]
