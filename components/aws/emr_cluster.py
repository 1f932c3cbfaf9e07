"""A Spark cluster on EMR in a private subnet of the Network, with the one bucket `invoke submit-spark` uses:
step and container logs under ``logs/`` (EMR's ``log_uri``), bootstrap scripts under ``bootstrap/``, and the
scripts, modules, inputs and outputs of each job under ``jobs/<id>/``.

EMR forces a new cluster for almost any change (applications, bootstrap actions, configurations, subnet,
log URI, release label, fleets); counts, auto-termination, step concurrency and tags change in place. Steps
added by `submit-spark` are ignored, or the next `up` would replace the cluster. A cluster that ended on its
idle timeout is created again by the next `up`.

EMR's service policy launches only into a subnet tagged ``for-use-with-amazon-emr-managed-policies=true``. A
subnet the toolkit creates gets the tag from the Network. A subnet of an existing network (spec
``network.vpc_id`` with subnet ids) is not tagged here: its owner must tag it (``aws ec2 create-tags --resources
SUBNET --tags Key=for-use-with-amazon-emr-managed-policies,Value=true``). An ``aws.ec2.Tag`` from this stack would
take the tag away again on `destroy`, from a subnet other EMR clusters may launch into, and would make the
toolkit a second owner of tags it does not own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi import Input, Output

from components.aws.containers import normalised_json
from components.aws.network import EMR_MANAGED_TAG, WEB_EGRESS
from components.aws.slurm_cluster import bucket_tls_only_policy
from spec import environment as spec

SERVICE_POLICY = "service-role/AmazonEMRServicePolicy_v2"
LOG_PREFIX, BOOTSTRAP_PREFIX, JOBS_PREFIX = "logs/", "bootstrap/", "jobs/"
SPOT_TIMEOUT_MINUTES = 10  # then the spot capacity still missing is launched on-demand
INCOMPLETE_UPLOAD_DAYS = 7
SERVICE_ACCESS_PORT, MASTER_SERVICE_PORT = 9443, 8443  # EMR's service-access group: from the master, to the nodes


@dataclass(frozen=True)
class EmrClusterArgs:
    spark: spec.Spark
    subnet_id: Input[str]  # a private subnet (no public addresses) with EMR_MANAGED_TAG: see the module docstring
    vpc_id: Input[str]
    cluster_name: str
    bootstrap_scripts: list[Path]  # local files, in the order they run
    tags: dict[str, str]


def configurations_json(configurations: dict[str, dict[str, str]]) -> str | None:
    """EMR's configuration list, sorted and compact: the provider compares the string, so any other spelling
    of the same configurations would replace the cluster."""
    if not configurations:
        return None
    return normalised_json([{"Classification": classification, "Properties": properties}
                            for classification, properties in sorted(configurations.items())])


def bootstrap_key(script: Path) -> str:
    """``bootstrap/<content hash>/<name>``: an edited script gets a new key, hence a new bootstrap action and
    a new cluster, instead of nodes silently running the old one."""
    return f"{BOOTSTRAP_PREFIX}{hashlib.sha256(script.read_bytes()).hexdigest()[:16]}/{script.name}"


def _document(*statements: dict[str, Any]) -> str:
    return normalised_json({"Version": "2012-10-17", "Statement": list(statements)})


def _trust(service: str, condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return _document(statement)


def instance_policy(bucket_arn: str, key_arn: str, read_buckets: list[str], partition: str) -> str:
    """What the nodes may do, from AWS's least-privilege guidance for EMR instance profiles: read and write the
    stack's bucket (EMRFS, logs, bootstrap scripts), read the buckets the spec names, use the disk key."""
    statements: list[dict[str, Any]] = [
        {"Sid": "StackBucket", "Effect": "Allow",
         "Action": ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketMultipartUploads",
                    "s3:ListBucketVersions"],
         "Resource": bucket_arn},
        {"Sid": "StackObjects", "Effect": "Allow",
         "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging",
                    "s3:GetObjectVersion", "s3:ListMultipartUploadParts", "s3:PutObject", "s3:PutObjectTagging"],
         "Resource": f"{bucket_arn}/*"},
        {"Sid": "LocalDiskKey", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
         "Resource": key_arn},
    ]
    if read_buckets:
        arns = [f"arn:{partition}:s3:::{name}" for name in read_buckets]
        statements.append({"Sid": "ReadDataBuckets", "Effect": "Allow",
                           "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
                           "Resource": sorted(arns + [f"{arn}/*" for arn in arns])})
    return _document(*statements)


def service_policy(instance_role_arn: str, key_arn: str) -> str:
    """What AmazonEMRServicePolicy_v2 leaves out: passing *this* instance role (it names EMR_EC2_DefaultRole
    only) and the disk key, which EMR hands to EC2 for the nodes' encrypted EBS volumes."""
    return _document(
        {"Sid": "PassInstanceRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": instance_role_arn,
         "Condition": {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}}},
        {"Sid": "UseDiskKey", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
         "Resource": key_arn},
        {"Sid": "GrantDiskKeyToEbs", "Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants",
                                                                   "kms:RevokeGrant"],
         "Resource": key_arn, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})


def security_configuration(key_arn: str) -> str:
    """Encryption at rest: EMRFS writes with SSE-S3 (as the bucket does) and every local disk, EBS included,
    is encrypted with the stack's KMS key. In-transit encryption needs TLS certificates; not set up here."""
    return normalised_json({"EncryptionConfiguration": {
        "EnableAtRestEncryption": True, "EnableInTransitEncryption": False,
        "AtRestEncryptionConfiguration": {
            "S3EncryptionConfiguration": {"EncryptionMode": "SSE-S3"},
            "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": key_arn,
                                                 "EnableEbsEncryption": True}}}})


def _spot_specifications() -> dict[str, Any]:
    return {"spot_specifications": [{"allocation_strategy": "price-capacity-optimized",
                                     "timeout_action": "SWITCH_TO_ON_DEMAND",
                                     "timeout_duration_minutes": SPOT_TIMEOUT_MINUTES}],
            "on_demand_specifications": [{"allocation_strategy": "lowest-price"}]}


def fleet(name: str, instance_type: str, count: int, spot: bool) -> dict[str, Any]:
    """An instance fleet of ``count`` units; spot ones switch to on-demand when EC2 has no spot capacity."""
    result: dict[str, Any] = {"name": name, "instance_type_configs": [{"instance_type": instance_type,
                                                                       "weighted_capacity": 1}],
                              "target_on_demand_capacity": 0 if spot else count,
                              "target_spot_capacity": count if spot else 0}
    if spot:
        result["launch_specifications"] = _spot_specifications()
    return result


def group(name: str, instance_type: str, count: int, spot: bool) -> dict[str, Any]:
    """An instance group; spot ones bid the on-demand price (EMR's ``OnDemandPrice``) and have no fallback."""
    result: dict[str, Any] = {"name": name, "instance_type": instance_type, "instance_count": count}
    if spot:
        result["bid_price"] = "OnDemandPrice"
    return result


class EmrCluster(pulumi.ComponentResource):
    """EMR cluster, its bucket, roles, disk key, security configuration and EMR-managed security groups."""

    cluster_id: pulumi.Output[str]
    master_dns: pulumi.Output[str]
    log_uri: pulumi.Output[str]
    bucket: pulumi.Output[str]

    def __init__(self, name: str, args: EmrClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        missing = [str(path) for path in args.bootstrap_scripts if not path.is_file()]
        if missing:
            raise ValueError(f"spark.bootstrap: {missing[0]}: no such file (paths are relative to the project)")
        super().__init__("cloud-hpc-toolkit:aws:EmrCluster", name, None, opts)
        self._name, self._tags = name, args.tags
        invoke = pulumi.InvokeOptions(parent=self)
        self._partition = aws.get_partition(opts=invoke)
        self._region = aws.get_region(opts=invoke).region
        self._account = aws.get_caller_identity(opts=invoke).account_id
        spark = args.spark

        bucket, bucket_ready = self._bucket(spark.log_retention_days)
        key = aws.kms.Key(f"{name}-emr-disks", description=f"EMR local disks of {args.cluster_name}",
                          enable_key_rotation=True, deletion_window_in_days=7, tags=self._named("emr-disks"),
                          opts=self._child())
        profile, service_role, permissions = self._roles(bucket, key, spark.read_buckets)
        encryption = aws.emr.SecurityConfiguration(f"{name}-emr-encryption",
                                                   configuration=key.arn.apply(security_configuration),
                                                   opts=self._child())
        groups = self._security_groups(args)
        scripts = [aws.s3.BucketObjectv2(f"{name}-emr-bootstrap-{index}", bucket=bucket.bucket, key=bootstrap_key(path),
                                         source=pulumi.FileAsset(str(path)), tags=self._tags,
                                         opts=self._child(bucket_ready))
                   for index, path in enumerate(args.bootstrap_scripts)]
        log_uri = Output.concat("s3://", bucket.bucket, f"/{LOG_PREFIX}")

        cluster = aws.emr.Cluster(
            f"{name}-emr", name=args.cluster_name, release_label=spark.release_label, applications=spark.applications,
            service_role=service_role.arn, security_configuration=encryption.name,
            ec2_attributes={"subnet_id": args.subnet_id, "instance_profile": profile.arn,
                            "emr_managed_master_security_group": groups["master"],
                            "emr_managed_slave_security_group": groups["slave"],
                            "service_access_security_group": groups["service"]},
            bootstrap_actions=[{"name": path.name, "path": Output.concat("s3://", script.bucket, "/", script.key)}
                               for path, script in zip(args.bootstrap_scripts, scripts, strict=True)],
            configurations_json=configurations_json(spark.configurations),
            auto_termination_policy={"idle_timeout": spark.idle_timeout_minutes * 60},
            keep_job_flow_alive_when_no_steps=spark.keep_alive, step_concurrency_level=spark.step_concurrency,
            log_uri=log_uri, termination_protection=False, tags={**self._named("emr"), **EMR_MANAGED_TAG},
            **self._instances(spark),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["steps"],
                                        depends_on=[*permissions, *bucket_ready]))
        self._task_nodes(spark, cluster)

        self.cluster_id = cluster.id
        self.master_dns = cluster.master_public_dns  # the primary's private DNS name in a private subnet
        self.log_uri = log_uri
        self.bucket = bucket.bucket
        self.register_outputs({"cluster_id": self.cluster_id, "master_dns": self.master_dns,
                               "log_uri": self.log_uri, "bucket": self.bucket})

    def _child(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on)

    def _named(self, suffix: str) -> dict[str, str]:
        return {**self._tags, "Name": f"{self._name}-{suffix}"}

    def _bucket(self, log_retention_days: int) -> tuple[aws.s3.Bucket, list[pulumi.Resource]]:
        """Private, encrypted, TLS-only; emptied on destroy (logs and job data go with the cluster)."""
        name = f"{self._name}-emr"
        bucket = aws.s3.Bucket(name, force_destroy=True, tags=self._named("emr"), opts=self._child())
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.bucket,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=self._child())
        private = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access", bucket=bucket.bucket, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=self._child())
        policy = aws.s3.BucketPolicy(f"{name}-tls-only", bucket=bucket.bucket,
                                     policy=bucket.arn.apply(bucket_tls_only_policy),
                                     opts=self._child([private]))
        aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.bucket, rules=[
            {"id": "expire-logs", "status": "Enabled", "filter": {"prefix": LOG_PREFIX},
             "expiration": {"days": log_retention_days}},
            {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {"prefix": JOBS_PREFIX},
             "abort_incomplete_multipart_upload": {"days_after_initiation": INCOMPLETE_UPLOAD_DAYS}},
        ], opts=self._child())
        return bucket, [encryption, private, policy]

    def _roles(self, bucket: aws.s3.Bucket, key: aws.kms.Key, read_buckets: list[str],
               ) -> tuple[aws.iam.InstanceProfile, aws.iam.Role, list[pulumi.Resource]]:
        """The service role has the AWS-documented AmazonEMRServicePolicy_v2 plus passing the instance role.

        The instance role does not get AmazonElasticMapReduceforEC2Role, the documented default: it allows s3:*,
        dynamodb:*, sqs:*, sns:* and more on every resource of the account, and AWS has put it on the path to
        deprecation, recommending a least-privilege policy instead, which is what ``instance_policy`` is."""
        name, partition = self._name, self._partition
        source = {"StringEquals": {"aws:SourceAccount": self._account},
                  "ArnLike": {"aws:SourceArn": f"arn:{partition.partition}:elasticmapreduce:{self._region}:"
                                               f"{self._account}:*"}}
        service = aws.iam.Role(f"{name}-emr-service", assume_role_policy=_trust(
            f"elasticmapreduce.{partition.dns_suffix}", source),
            description="EMR: launch and manage the cluster's instances", tags=self._tags, opts=self._child())
        managed = aws.iam.RolePolicyAttachment(f"{name}-emr-service-policy", role=service.name,
                                               policy_arn=f"arn:{partition.partition}:iam::aws:policy/{SERVICE_POLICY}",
                                               opts=self._child())
        instance = aws.iam.Role(f"{name}-emr-ec2", assume_role_policy=_trust(f"ec2.{partition.dns_suffix}"),
                                description="EMR nodes: the stack's bucket and disk key only", tags=self._tags,
                                opts=self._child())
        nodes = aws.iam.RolePolicy(f"{name}-emr-ec2-access", role=instance.id, policy=Output.all(
            bucket.arn, key.arn).apply(lambda arns: instance_policy(arns[0], arns[1], read_buckets,
                                                                    partition.partition)), opts=self._child())
        passing = aws.iam.RolePolicy(f"{name}-emr-service-access", role=service.id, policy=Output.all(
            instance.arn, key.arn).apply(lambda arns: service_policy(arns[0], arns[1])), opts=self._child())
        # EMR refuses an instance profile whose name differs from its role's ("invalid instance profile").
        profile = aws.iam.InstanceProfile(f"{name}-emr-ec2", name=instance.name, role=instance.name,
                                          tags=self._tags, opts=self._child())
        return profile, service, [managed, nodes, passing]

    def _security_groups(self, args: EmrClusterArgs) -> dict[str, pulumi.Output[str]]:
        """The three EMR-managed groups, made here so destroy can revoke the rules EMR adds between them
        (``revoke_rules_on_delete``) instead of failing on groups that reference each other. EMR adds the
        rules among its nodes itself; the ones it needs before it can act are declared here."""
        name = self._name
        groups: dict[str, aws.ec2.SecurityGroup] = {}
        for role, description in (("master", "EMR primary node"), ("slave", "EMR core and task nodes"),
                                  ("service", "EMR service access to the primary node")):
            groups[role] = aws.ec2.SecurityGroup(
                f"{name}-emr-{role}", vpc_id=args.vpc_id, description=description, revoke_rules_on_delete=True,
                tags={**self._named(f"emr-{role}"), **EMR_MANAGED_TAG}, opts=self._child())
        # out: everything among the cluster's nodes, and to the world only HTTPS and HTTP (S3, the EMR and CloudWatch
        # APIs, package repositories), as the Slurm nodes
        for role in ("master", "slave"):
            for peer in ("master", "slave"):
                aws.vpc.SecurityGroupEgressRule(f"{name}-emr-{role}-to-{peer}", security_group_id=groups[role].id,
                                                ip_protocol="-1", referenced_security_group_id=groups[peer].id,
                                                description=f"All to the EMR {peer} nodes", opts=self._child())
            for port, why in WEB_EGRESS:
                aws.vpc.SecurityGroupEgressRule(f"{name}-emr-{role}-egress-{port}", security_group_id=groups[role].id,
                                                ip_protocol="tcp", from_port=port, to_port=port,
                                                cidr_ipv4="0.0.0.0/0", description=why, opts=self._child())
        service = groups["service"].id
        aws.vpc.SecurityGroupIngressRule(f"{name}-emr-service-from-master", security_group_id=service,
                                         ip_protocol="tcp", from_port=SERVICE_ACCESS_PORT, to_port=SERVICE_ACCESS_PORT,
                                         referenced_security_group_id=groups["master"].id,
                                         description="EMR service access from the primary node", opts=self._child())
        for role, nodes in (("master", "the primary node"), ("slave", "core and task nodes")):
            aws.vpc.SecurityGroupEgressRule(f"{name}-emr-service-to-{role}", security_group_id=service,
                                            ip_protocol="tcp", from_port=MASTER_SERVICE_PORT,
                                            to_port=MASTER_SERVICE_PORT,
                                            referenced_security_group_id=groups[role].id,
                                            description=f"EMR service to {nodes}", opts=self._child())
        return {role: group.id for role, group in groups.items()}

    @staticmethod
    def _instances(spark: spec.Spark) -> dict[str, Any]:
        """Primary and core nodes, as fleets or as groups. The primary is always on-demand."""
        if spark.fleets:
            return {"master_instance_fleet": fleet("primary", spark.primary.instance_type, 1, spot=False),
                    "core_instance_fleet": fleet("core", spark.core.instance_type, spark.core.count,
                                                 spark.core.spot)}
        return {"master_instance_group": group("primary", spark.primary.instance_type, 1, spot=False),
                "core_instance_group": group("core", spark.core.instance_type, spark.core.count, spark.core.spot)}

    def _task_nodes(self, spark: spec.Spark, cluster: aws.emr.Cluster) -> None:
        """Task nodes are a resource of their own (the cluster resource has no task block); count is in place."""
        task = spark.task
        if task.count == 0:
            return
        if spark.fleets:
            aws.emr.InstanceFleet(f"{self._name}-emr-task", cluster_id=cluster.id,
                                  **fleet("task", task.instance_type, task.count, task.spot), opts=self._child())
        else:
            aws.emr.InstanceGroup(f"{self._name}-emr-task", cluster_id=cluster.id,
                                  **group("task", task.instance_type, task.count, task.spot), opts=self._child())
