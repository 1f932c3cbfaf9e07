"""The EMR cluster component against recording mocks: what it asks EMR, IAM, S3 and EC2 for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.aws.emr_cluster import EmrCluster, EmrClusterArgs
from components.aws.network import EMR_MANAGED_TAG
from components.security import check_resource
from spec import environment as spec
from tests.aws.mocks import RecordingMocks

CLUSTER = "aws:emr/cluster:Cluster"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
OUTPUTS = ("cluster_id", "master_dns", "log_uri", "bucket")
BUCKET = "sp-emr-bucket"  # the mocks name a bucket "<resource name>-bucket"
BUCKET_ARN = "arn:aws:mock:us-east-1:123456789012:sp-emr"
KEY_ARN = "arn:aws:mock:us-east-1:123456789012:sp-emr-disks"


def args(scripts: list[Path] | None = None, **fields: Any) -> EmrClusterArgs:
    return EmrClusterArgs(spark=spec.Spark.model_validate(fields), subnet_id="subnet-0a1b2c3d", vpc_id="vpc-0a1b2c3d",
                          cluster_name="spark-dev", bootstrap_scripts=scripts or [], tags={"project": "chpc"})


def build(cluster_args: EmrClusterArgs) -> dict[str, Any]:
    """Declare the component; return its outputs resolved, and fail unless every child is parented to it."""
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        cluster = EmrCluster("sp", cluster_args)
        return pulumi.Output.all(**{key: getattr(cluster, key) for key in OUTPUTS}).apply(values.update)

    program()
    urns = list(pulumi.runtime.settings.get_monitor().resources)
    children = [u for u in urns if not u.endswith("cloud-hpc-toolkit:aws:EmrCluster::sp")]
    assert len(children) == len(urns) - 1
    assert all("::cloud-hpc-toolkit:aws:EmrCluster$" in u for u in children), children
    return values


def by_name(mocks: RecordingMocks, type_token: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in mocks.of_type(type_token)}


def test_spark_and_hadoop_on_the_release_with_sorted_compact_configurations(mocks):
    build(args(release_label="emr-7.2.0", configurations={
        "spark-defaults": {"spark.sql.adaptive.enabled": True, "spark.executor.cores": 4},
        "capacity-scheduler": {"yarn.scheduler.capacity.maximum-am-resource-percent": 0.5}}))
    cluster = mocks.one(CLUSTER).inputs
    assert cluster["name"] == "spark-dev" and cluster["releaseLabel"] == "emr-7.2.0"
    assert cluster["applications"] == ["Spark", "Hadoop"]
    assert cluster["configurationsJson"] == (
        '[{"Classification":"capacity-scheduler","Properties":{"yarn.scheduler.capacity.maximum-am-resource-percent"'
        ':"0.5"}},{"Classification":"spark-defaults","Properties":{"spark.executor.cores":"4",'
        '"spark.sql.adaptive.enabled":"true"}}]')


def test_no_configurations_sends_none(mocks):
    build(args())
    assert "configurationsJson" not in mocks.one(CLUSTER).inputs


def test_instance_groups_on_demand_by_default_and_no_task_group(mocks):
    build(args(primary={"instance_type": "m5.2xlarge"}, core={"count": 3, "instance_type": "r5.xlarge"}))
    cluster = mocks.one(CLUSTER).inputs
    assert cluster["masterInstanceGroup"] == {"name": "primary", "instanceType": "m5.2xlarge", "instanceCount": 1.0}
    assert cluster["coreInstanceGroup"] == {"name": "core", "instanceType": "r5.xlarge", "instanceCount": 3.0}
    assert "masterInstanceFleet" not in cluster and "coreInstanceFleet" not in cluster
    assert mocks.of_type("aws:emr/instanceGroup:InstanceGroup") == []


def test_spot_groups_bid_the_on_demand_price_and_task_nodes_are_their_own_group(mocks):
    build(args(core={"spot": True}, task={"count": 4, "instance_type": "c5.2xlarge"}))
    assert mocks.one(CLUSTER).inputs["coreInstanceGroup"]["bidPrice"] == "OnDemandPrice"
    assert "bidPrice" not in mocks.one(CLUSTER).inputs["masterInstanceGroup"]  # the primary is never spot
    task = mocks.one("aws:emr/instanceGroup:InstanceGroup")
    assert task.inputs == {"clusterId": "sp-emr-id", "name": "task", "instanceType": "c5.2xlarge",
                           "instanceCount": 4.0, "bidPrice": "OnDemandPrice"}


def test_fleets_take_spot_capacity_and_switch_to_on_demand_when_ec2_has_none(mocks):
    build(args(fleets=True, core={"count": 2, "spot": True}, task={"count": 6, "instance_type": "m5.2xlarge"}))
    cluster = mocks.one(CLUSTER).inputs
    spot = {"spotSpecifications": [{"allocationStrategy": "price-capacity-optimized",
                                    "timeoutAction": "SWITCH_TO_ON_DEMAND", "timeoutDurationMinutes": 10.0}],
            "onDemandSpecifications": [{"allocationStrategy": "lowest-price"}]}
    assert cluster["masterInstanceFleet"] == {
        "name": "primary", "instanceTypeConfigs": [{"instanceType": "m5.xlarge", "weightedCapacity": 1.0}],
        "targetOnDemandCapacity": 1.0, "targetSpotCapacity": 0.0}
    assert cluster["coreInstanceFleet"] == {
        "name": "core", "instanceTypeConfigs": [{"instanceType": "m5.xlarge", "weightedCapacity": 1.0}],
        "targetOnDemandCapacity": 0.0, "targetSpotCapacity": 2.0, "launchSpecifications": spot}
    assert "masterInstanceGroup" not in cluster and "coreInstanceGroup" not in cluster
    task = mocks.one("aws:emr/instanceFleet:InstanceFleet").inputs
    assert (task["clusterId"], task["targetSpotCapacity"], task["targetOnDemandCapacity"]) == ("sp-emr-id", 6.0, 0.0)
    assert task["launchSpecifications"] == spot
    assert mocks.of_type("aws:emr/instanceGroup:InstanceGroup") == []


def test_an_on_demand_core_fleet_has_no_spot_settings(mocks):
    build(args(fleets=True, core={"count": 3}))
    core = mocks.one(CLUSTER).inputs["coreInstanceFleet"]
    assert (core["targetOnDemandCapacity"], core["targetSpotCapacity"]) == (3.0, 0.0)
    assert "launchSpecifications" not in core


@pytest.mark.parametrize(("minutes", "seconds"), [(1, 60), (45, 2700), (10080, 604800)])
def test_idle_auto_termination_in_seconds_keep_alive_and_step_concurrency(mocks, minutes, seconds):
    build(args(idle_timeout_minutes=minutes, step_concurrency=5))
    cluster = mocks.one(CLUSTER).inputs
    assert cluster["autoTerminationPolicy"] == {"idleTimeout": float(seconds)}
    assert cluster["keepJobFlowAliveWhenNoSteps"] is True and cluster["stepConcurrencyLevel"] == 5.0
    assert cluster["terminationProtection"] is False


def test_keep_alive_off_is_passed_on(mocks):
    build(args(keep_alive=False))
    assert mocks.one(CLUSTER).inputs["keepJobFlowAliveWhenNoSteps"] is False


def test_logs_go_to_the_bucket_and_the_outputs_name_both(mocks):
    outputs = build(args())
    assert mocks.one(CLUSTER).inputs["logUri"] == f"s3://{BUCKET}/logs/"
    assert outputs == {"cluster_id": "sp-emr-id", "master_dns": None, "log_uri": f"s3://{BUCKET}/logs/",
                       "bucket": BUCKET}


def test_the_bucket_is_encrypted_private_tls_only_and_expires_logs(mocks):
    build(args(log_retention_days=14))
    bucket = mocks.one("aws:s3/bucket:Bucket").inputs
    assert bucket["forceDestroy"] is True
    encryption = mocks.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert encryption.inputs == {"bucket": BUCKET, "rules": [{"applyServerSideEncryptionByDefault": {
        "sseAlgorithm": "AES256"}}]}
    block = mocks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert block["bucket"] == BUCKET
    assert check_resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", block) == []
    policy = json.loads(mocks.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"] == [{"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                    "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    rules = mocks.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert {"id": "expire-logs", "status": "Enabled", "filter": {"prefix": "logs/"},
            "expiration": {"days": 14.0}} in rules
    assert all(rule["filter"]["prefix"] for rule in rules)  # nothing under jobs/ or bootstrap/ expires


def test_service_role_has_the_documented_v2_policy_and_may_pass_only_the_instance_role(mocks):
    build(args())
    roles = by_name(mocks, ROLE)
    trust = json.loads(roles["sp-emr-service"]["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "elasticmapreduce.amazonaws.com"},
                      "Action": "sts:AssumeRole", "Condition": {
                          "StringEquals": {"aws:SourceAccount": "123456789012"},
                          "ArnLike": {"aws:SourceArn": "arn:aws:elasticmapreduce:us-east-1:123456789012:*"}}}]
    # the only managed policy in the component: the EC2 role gets none (AmazonElasticMapReduceforEC2Role is s3:* ...)
    attachment = mocks.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs
    assert attachment == {"role": "sp-emr-service",
                          "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"}
    service = json.loads(by_name(mocks, POLICY)["sp-emr-service-access"]["policy"])["Statement"]
    assert service[0] == {"Sid": "PassInstanceRole", "Effect": "Allow", "Action": "iam:PassRole",
                          "Resource": "arn:aws:mock:us-east-1:123456789012:sp-emr-ec2",
                          "Condition": {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}}}
    assert {s["Sid"]: s["Resource"] for s in service[1:]} == {"UseDiskKey": KEY_ARN, "GrantDiskKeyToEbs": KEY_ARN}


def test_instance_role_reaches_the_stack_bucket_the_read_buckets_and_the_disk_key_only(mocks):
    build(args(read_buckets=["wikimedia-pageviews"]))
    roles = by_name(mocks, ROLE)
    assert json.loads(roles["sp-emr-ec2"]["assumeRolePolicy"])["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    statements = json.loads(by_name(mocks, POLICY)["sp-emr-ec2-access"]["policy"])["Statement"]
    resources = {s["Sid"]: s["Resource"] for s in statements}
    assert resources == {"StackBucket": BUCKET_ARN, "StackObjects": f"{BUCKET_ARN}/*", "LocalDiskKey": KEY_ARN,
                         "ReadDataBuckets": ["arn:aws:s3:::wikimedia-pageviews", "arn:aws:s3:::wikimedia-pageviews/*"]}
    actions = [action for s in statements for action in s["Action"]]
    assert not [a for a in actions if a.endswith("*") and not a.startswith("kms:")]
    read = next(s for s in statements if s["Sid"] == "ReadDataBuckets")["Action"]
    assert not [a for a in read if "Put" in a or "Delete" in a]
    # EMR refuses an instance profile named differently from its role
    profile = mocks.one("aws:iam/instanceProfile:InstanceProfile").inputs
    assert profile["name"] == profile["role"] == "sp-emr-ec2"


def test_no_read_buckets_no_read_statement(mocks):
    build(args())
    statements = json.loads(by_name(mocks, POLICY)["sp-emr-ec2-access"]["policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["StackBucket", "StackObjects", "LocalDiskKey"]


def test_placed_in_the_subnet_with_its_own_managed_groups_revoked_on_delete(mocks):
    build(args())
    attributes = mocks.one(CLUSTER).inputs["ec2Attributes"]
    assert attributes == {"subnetId": "subnet-0a1b2c3d", "instanceProfile": "arn:aws:mock:us-east-1:123456789012:"
                          "sp-emr-ec2", "emrManagedMasterSecurityGroup": "sp-emr-master-id",
                          "emrManagedSlaveSecurityGroup": "sp-emr-slave-id",
                          "serviceAccessSecurityGroup": "sp-emr-service-id"}
    assert "keyName" not in attributes  # no SSH key: nothing to reach the nodes with but EMR steps
    groups = by_name(mocks, GROUP)
    assert set(groups) == {"sp-emr-master", "sp-emr-slave", "sp-emr-service"}
    for group in groups.values():
        assert group["vpcId"] == "vpc-0a1b2c3d" and group["revokeRulesOnDelete"] is True
        assert group["tags"]["for-use-with-amazon-emr-managed-policies"] == "true"
        assert "ingress" not in group and "egress" not in group  # EMR adds its rules; the group does not fight them
    ingress = mocks.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").inputs
    assert (ingress["securityGroupId"], ingress["fromPort"], ingress["referencedSecurityGroupId"]) == (
        "sp-emr-service-id", 9443.0, "sp-emr-master-id")
    assert "cidrIpv4" not in ingress  # nothing reaches the cluster from outside the VPC
    # the subnet's tag is its owner's: the Network's own subnets carry it, an existing one is tagged by the user
    assert mocks.of_type("aws:ec2/tag:Tag") == []


def test_cluster_tags_carry_the_emr_managed_policy_tag(mocks):
    build(args())
    assert mocks.one(CLUSTER).inputs["tags"] == {"project": "chpc", "Name": "sp-emr", **EMR_MANAGED_TAG}


def test_local_disks_are_encrypted_with_the_stacks_key(mocks):
    build(args())
    key = mocks.one("aws:kms/key:Key").inputs
    assert key["enableKeyRotation"] is True
    configuration = mocks.one("aws:emr/securityConfiguration:SecurityConfiguration")
    assert mocks.one(CLUSTER).inputs["securityConfiguration"] == configuration.name
    encryption = json.loads(configuration.inputs["configuration"])["EncryptionConfiguration"]
    assert encryption["EnableAtRestEncryption"] is True
    assert encryption["AtRestEncryptionConfiguration"] == {
        "S3EncryptionConfiguration": {"EncryptionMode": "SSE-S3"},
        "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": KEY_ARN,
                                             "EnableEbsEncryption": True}}


def test_steps_submitted_after_deploy_are_ignored_not_replaced(mocks, registrations):
    build(args())
    assert list(registrations[f"{CLUSTER}::sp-emr"].ignoreChanges) == ["steps"]
    assert list(registrations["aws:s3/bucket:Bucket::sp-emr"].ignoreChanges) == []


def test_bootstrap_scripts_are_uploaded_and_run_in_order(mocks, tmp_path):
    first, second = tmp_path / "install.sh", tmp_path / "tune.sh"
    first.write_text("#!/bin/sh\nsudo pip3 install numpy\n")
    second.write_text("#!/bin/sh\necho tuned\n")
    build(args([second, first]))
    objects = by_name(mocks, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert [(o["bucket"], o["source"].path) for o in objects.values()] == [(BUCKET, str(second)), (BUCKET, str(first))]
    keys = [o["key"] for o in objects.values()]
    assert all(k.startswith("bootstrap/") for k in keys) and [k.rsplit("/", 1)[1] for k in keys] == ["tune.sh",
                                                                                                    "install.sh"]
    assert mocks.one(CLUSTER).inputs["bootstrapActions"] == [
        {"name": "tune.sh", "path": f"s3://{BUCKET}/{keys[0]}"}, {"name": "install.sh", "path": f"s3://{BUCKET}/{keys[1]}"}]


def test_an_edited_bootstrap_script_gets_a_new_key(mocks, tmp_path):
    script = tmp_path / "install.sh"
    script.write_text("#!/bin/sh\necho one\n")
    build(args([script]))
    before = mocks.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs["key"]
    script.write_text("#!/bin/sh\necho two\n")
    mocks.resources.clear()
    build(args([script]))
    after = mocks.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs["key"]
    assert before != after and before.endswith("/install.sh") and after.endswith("/install.sh")


def test_a_missing_bootstrap_script_is_refused_before_anything_is_declared(mocks, tmp_path):
    with pytest.raises(ValueError, match=r"spark.bootstrap: .*nothere.sh: no such file"):
        build(args([tmp_path / "nothere.sh"]))
    assert mocks.resources == []


def test_out_of_the_cluster_only_https_and_http_between_its_nodes_everything(mocks):
    build(args())
    rules = {(r.inputs["securityGroupId"], r.inputs.get("cidrIpv4") or r.inputs.get("referencedSecurityGroupId"),
              r.inputs["ipProtocol"], r.inputs.get("fromPort"))
             for r in mocks.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")}
    assert rules == {(f"sp-emr-{role}-id", target, protocol, port) for role in ("master", "slave")
                     for target, protocol, port in (("0.0.0.0/0", "tcp", 443.0), ("0.0.0.0/0", "tcp", 80.0),
                                                    ("sp-emr-master-id", "-1", None), ("sp-emr-slave-id", "-1", None))
                     } | {("sp-emr-service-id", f"sp-emr-{role}-id", "tcp", 8443.0) for role in ("master", "slave")}
