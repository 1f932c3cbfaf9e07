"""What still carries the stack's tag after destroy, against a real moto_server."""

from __future__ import annotations

from typing import Any

import pytest

from targets.aws.errors import AwsError
from targets.aws.leftovers import tagged_leftovers
from tests.aws import moto_fixture
from tests.aws.moto_server import fail_calls

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name

KEY, VALUE = "cloud-hpc-toolkit:stack", "hpc-dev"


def ec2_tags(resource: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def build(session, tags: dict[str, str], suffix: str) -> dict[str, str]:
    """One of each kind the check looks for, tagged ``tags``; returns kind -> id."""
    ec2, ecs, efs, logs, s3 = (session.client(s) for s in ("ec2", "ecs", "efs", "logs", "s3"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    made = {
        "ec2:instance": ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                          SubnetId=subnet, TagSpecifications=ec2_tags("instance", tags)
                                          )["Instances"][0]["InstanceId"],
        "ec2:volume": ec2.create_volume(AvailabilityZone="us-east-1a", Size=10,
                                        TagSpecifications=ec2_tags("volume", tags))["VolumeId"],
        "ec2:security-group": ec2.create_security_group(GroupName=f"nodes-{suffix}", Description="nodes", VpcId=vpc,
                                                        TagSpecifications=ec2_tags("security-group", tags))["GroupId"],
        "elasticfilesystem:file-system": efs.create_file_system(
            CreationToken=f"shared-{suffix}", Encrypted=True,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["FileSystemId"],
        "ecs:cluster": ecs.create_cluster(clusterName=f"hpc-{suffix}", tags=[{"key": k, "value": v}
                                                                          for k, v in tags.items()]
                                          )["cluster"]["clusterName"],
        "logs:log-group": f"/ecs/hpc-{suffix}",
        "s3": f"hpc-logs-{suffix}",
    }
    logs.create_log_group(logGroupName=made["logs:log-group"], tags=tags)
    s3.create_bucket(Bucket=made["s3"])
    s3.put_bucket_tagging(Bucket=made["s3"], Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    definition = ecs.register_task_definition(
        family=f"hpc-{suffix}", containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}],
        tags=[{"key": k, "value": v} for k, v in tags.items()])["taskDefinition"]
    made["ecs:task-definition"] = f"{definition['family']}:{definition['revision']}"
    return made


def destroy(session, made: dict[str, str]) -> None:
    ec2, ecs, efs, logs, s3 = (session.client(s) for s in ("ec2", "ecs", "efs", "logs", "s3"))
    ec2.terminate_instances(InstanceIds=[made["ec2:instance"]])
    ec2.delete_volume(VolumeId=made["ec2:volume"])
    ec2.delete_security_group(GroupId=made["ec2:security-group"])
    efs.delete_file_system(FileSystemId=made["elasticfilesystem:file-system"])
    ecs.delete_cluster(cluster=made["ecs:cluster"])               # stays listed, INACTIVE
    ecs.deregister_task_definition(taskDefinition=made["ecs:task-definition"])   # stays listed, INACTIVE
    logs.delete_log_group(logGroupName=made["logs:log-group"])
    s3.delete_bucket(Bucket=made["s3"])


def test_lists_every_tagged_resource_and_nothing_else(aws_session):
    ours = build(aws_session, {KEY: VALUE, "Name": "x"}, "ours")
    build(aws_session, {KEY: "another-stack"}, "theirs")
    build(aws_session, {"owner": "someone"}, "untagged")

    assert tagged_leftovers(aws_session, KEY, VALUE) == sorted(f"{kind} {ident}" for kind, ident in ours.items())


def test_nothing_left_after_destroy_even_what_aws_still_lists(aws_session):
    made = build(aws_session, {KEY: VALUE}, "ours")
    destroy(aws_session, made)
    # the tagging API still lists the terminated instance, the INACTIVE cluster and task definition
    tagging = aws_session.client("resourcegroupstaggingapi")
    listed = tagging.get_resources(TagFilters=[{"Key": KEY, "Values": [VALUE]}])["ResourceTagMappingList"]
    still_listed = {m["ResourceARN"].split(":")[5].split("/")[0] for m in listed}
    assert {"instance", "cluster", "task-definition"} <= still_listed

    assert tagged_leftovers(aws_session, KEY, VALUE) == []


def test_retained_volumes_are_kept_out(aws_session):
    ec2 = aws_session.client("ec2")
    kept = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10,
                             TagSpecifications=ec2_tags("volume", {KEY: VALUE}))["VolumeId"]
    leaked = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10,
                               TagSpecifications=ec2_tags("volume", {KEY: VALUE}))["VolumeId"]

    assert tagged_leftovers(aws_session, KEY, VALUE, keep={kept}) == [f"ec2:volume {leaked}"]
    assert tagged_leftovers(aws_session, KEY, VALUE) == sorted([f"ec2:volume {kept}", f"ec2:volume {leaked}"])


def start_tagged_task(session, cluster: str) -> str:
    """A Fargate task carrying the stack's tag, in an untagged cluster; returns its ARN."""
    ec2, ecs = session.client("ec2"), session.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's awsvpc tasks need it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="task", Description="task", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=cluster)
    family = ecs.register_task_definition(family="job", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                          cpu="256", memory="512",
                                          containerDefinitions=[{"name": "app", "image": "busybox", "memory": 512}])
    return ecs.run_task(cluster=cluster, taskDefinition=family["taskDefinition"]["taskDefinitionArn"],
                        launchType="FARGATE", tags=[{"key": KEY, "value": VALUE}],
                        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet],
                                                                      "securityGroups": [group]}},
                        )["tasks"][0]["taskArn"]


def test_a_running_task_is_a_leftover_a_stopped_one_is_not(aws_session):
    arn = start_tagged_task(aws_session, "untagged")
    assert tagged_leftovers(aws_session, KEY, VALUE) == [f"ecs:task {arn.split(':')[5].split('/', 1)[1]}"]
    aws_session.client("ecs").stop_task(cluster="untagged", task=arn)
    assert tagged_leftovers(aws_session, KEY, VALUE) == []


def test_a_task_whose_cluster_is_gone_is_not_a_leftover(aws_session):
    start_tagged_task(aws_session, "old")
    fail_calls(aws_session, "ecs", "DescribeTasks", "ClusterNotFoundException")  # moto keeps deleted clusters
    assert tagged_leftovers(aws_session, KEY, VALUE) == []


def test_a_refused_call_names_the_check(aws_session):
    fail_calls(aws_session, "cloudwatch-logs", "DescribeLogGroups", "AccessDeniedException")
    with pytest.raises(AwsError, match=r"checking for leftover logs:log-group tagged cloud-hpc-toolkit:stack=hpc-dev: "
                                       r".*AccessDenied.*check the credentials"):
        tagged_leftovers(aws_session, KEY, VALUE)


def test_a_task_definition_deleted_since_the_listing_is_not_a_leftover(aws_session):
    ecs = aws_session.client("ecs")
    ecs.register_task_definition(family="job", containerDefinitions=[{"name": "app", "image": "busybox",
                                                                      "memory": 128}],
                                 tags=[{"key": KEY, "value": VALUE}])
    assert tagged_leftovers(aws_session, KEY, VALUE) == ["ecs:task-definition job:1"]
    # ECS answers ClientException for a task definition deleted (DeleteTaskDefinitions) after the listing
    fail_calls(aws_session, "ecs", "DescribeTaskDefinition", "ClientException")
    assert tagged_leftovers(aws_session, KEY, VALUE) == []


def test_a_log_group_deleted_since_the_listing_is_not_a_leftover(aws_session):
    aws_session.client("logs").create_log_group(logGroupName="/ecs/hpc", tags={KEY: VALUE})
    assert tagged_leftovers(aws_session, KEY, VALUE) == ["logs:log-group /ecs/hpc"]
    fail_calls(aws_session, "cloudwatch-logs", "ListTagsForResource", "ResourceNotFoundException")
    assert tagged_leftovers(aws_session, KEY, VALUE) == []


def test_a_terminated_emr_cluster_and_a_key_pending_deletion_are_not_leftovers(aws_session):
    tags = {KEY: VALUE}
    emr, kms = aws_session.client("emr"), aws_session.client("kms")
    cluster = emr.run_job_flow(
        Name="spark", ReleaseLabel="emr-7.5.0", JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["JobFlowId"]
    key = kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"]["KeyId"]
    alive = tagged_leftovers(aws_session, KEY, VALUE)
    assert any(cluster in line for line in alive) and any(key in line for line in alive), alive
    emr.terminate_job_flows(JobFlowIds=[cluster])
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert tagged_leftovers(aws_session, KEY, VALUE) == []
