"""The AWS container service component, against recording mocks: what it declares and what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.aws.containers import ContainerService, ContainerServiceArgs, normalised_json
from components.security import SecurityViolation
from spec import environment as spec
from tests.aws.mocks import RecordingMocks, assert_all_children_of

TASK = "aws:ecs/taskDefinition:TaskDefinition"
ROLE = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC_CIDR = "10.20.0.0/16"
SUBNETS = ["subnet-private-a", "subnet-private-b"]
OUTPUTS = ("cluster_name", "cluster_arn", "task_definition_arn", "service_name", "repository_url", "log_group_name",
           "security_group_id", "container_name")
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def containers(**overrides: Any) -> spec.Containers:
    settings: dict[str, Any] = {"image": "public.ecr.aws/docker/library/python:3.12", "cpu": 512, "memory_mb": 1024,
                                "desired_count": 2, "command": ["python", "-m", "http.server", "8080"],
                                "environment": {"ZETA": "last", "ALPHA": "first", "MIDDLE": "m"}, "port": 8080}
    return spec.Containers(**{**settings, **overrides})


def build(settings: spec.Containers, vpc_cidr: str | None = VPC_CIDR) -> dict[str, Any]:
    """Declare the component; return its outputs resolved, and fail unless every child is parented to it."""
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        service = ContainerService("hpc", ContainerServiceArgs(
            containers=settings, vpc_id="vpc-0a1b2c3d", subnet_ids=SUBNETS, tags={"project": "chpc"},
            vpc_cidr=vpc_cidr))
        return pulumi.Output.all(**{key: getattr(service, key) for key in OUTPUTS}).apply(values.update)

    program()
    assert_all_children_of("cloud-hpc-toolkit:aws:ContainerService", "hpc")
    return values


def definitions(mocks: RecordingMocks) -> list[dict[str, Any]]:
    return json.loads(mocks.one(TASK).inputs["containerDefinitions"])


def test_fargate_task_definition_with_string_sizes(mocks):
    outputs = build(containers())
    task = mocks.one(TASK).inputs
    assert task["cpu"] == "512" and task["memory"] == "1024"
    assert task["networkMode"] == "awsvpc" and task["requiresCompatibilities"] == ["FARGATE"]
    assert task["family"] == "hpc-cluster"  # the cluster's generated name: unique per stack
    assert task["executionRoleArn"].endswith(":hpc-execution") and task["taskRoleArn"].endswith(":hpc-task")
    assert outputs["task_definition_arn"] == task_arn(mocks) and outputs["container_name"] == "hpc"


def task_arn(mocks: RecordingMocks) -> str:
    return f"arn:aws:mock:us-east-1:123456789012:{mocks.one(TASK).name}"


def test_container_definition_logs_ports_command_and_sorted_environment(mocks):
    outputs = build(containers())
    (container,) = definitions(mocks)
    assert container["name"] == "hpc" and container["essential"] is True
    assert container["image"] == "public.ecr.aws/docker/library/python:3.12"
    assert container["command"] == ["python", "-m", "http.server", "8080"]
    assert container["environment"] == [{"name": "ALPHA", "value": "first"}, {"name": "MIDDLE", "value": "m"},
                                        {"name": "ZETA", "value": "last"}]
    assert container["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    assert container["logConfiguration"] == {"logDriver": "awslogs", "options": {
        "awslogs-group": outputs["log_group_name"], "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}
    assert outputs["log_group_name"] == mocks.one("aws:cloudwatch/logGroup:LogGroup").name == "hpc-logs"


def test_container_definitions_are_one_normalised_string(mocks):
    build(containers(port=None, command=[], environment={}))
    raw = mocks.one(TASK).inputs["containerDefinitions"]
    assert isinstance(raw, str)
    assert raw == normalised_json(json.loads(raw))  # sorted keys, compact: the same bytes on every up
    (container,) = json.loads(raw)
    assert set(container) == {"name", "image", "essential", "logConfiguration"}  # nothing empty, no nulls


def test_normalised_json_sorts_keys_and_drops_nulls():
    assert normalised_json({"b": 1, "a": {"y": None, "x": [2, {"k": None}]}}) == '{"a":{"x":[2,{}]},"b":1}'


def test_execution_role_has_only_the_managed_execution_policy(mocks):
    build(containers())
    attachments = mocks.of_type(ROLE)
    assert [(a.inputs["role"], a.inputs["policyArn"]) for a in attachments] == [("hpc-execution", EXECUTION_POLICY)]
    roles = {r.name: r.inputs for r in mocks.of_type("aws:iam/role:Role")}
    assert set(roles) == {"hpc-execution", "hpc-task"}
    for role in roles.values():
        trust = json.loads(role["assumeRolePolicy"])["Statement"]
        assert [(s["Principal"], s["Action"]) for s in trust] == [({"Service": "ecs-tasks.amazonaws.com"},
                                                                   "sts:AssumeRole")]
        assert not role.get("managedPolicyArns") and not role.get("inlinePolicies")


def test_task_role_has_no_permissions_and_only_this_accounts_tasks_assume_it(mocks):
    build(containers())
    task_role = {r.name: r.inputs for r in mocks.of_type("aws:iam/role:Role")}["hpc-task"]
    assert "hpc-task" not in [a.inputs["role"] for a in mocks.of_type(ROLE)]
    assert mocks.of_type("aws:iam/rolePolicy:RolePolicy") == []
    (statement,) = json.loads(task_role["assumeRolePolicy"])["Statement"]
    assert statement["Condition"] == {"ArnLike": {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"},
                                      "StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_log_group_keeps_30_days_and_goes_with_the_stack(mocks):
    build(containers())
    logs = mocks.one("aws:cloudwatch/logGroup:LogGroup").inputs
    assert logs["retentionInDays"] == 30 and logs["skipDestroy"] is False
    assert logs["tags"] == {"project": "chpc"}


def test_repository_scans_is_immutable_encrypted_and_deleted_with_its_images(mocks):
    outputs = build(containers())
    repo = mocks.one("aws:ecr/repository:Repository").inputs
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
    assert repo["forceDelete"] is True
    assert outputs["repository_url"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/hpc-repo"


def test_cluster_has_container_insights(mocks):
    outputs = build(containers())
    cluster = mocks.one("aws:ecs/cluster:Cluster").inputs
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert outputs["cluster_name"] == "hpc-cluster"


def test_service_runs_on_fargate_in_the_private_subnets_without_public_ip(mocks):
    outputs = build(containers())
    service = mocks.one("aws:ecs/service:Service").inputs
    assert service["launchType"] == "FARGATE" and service["desiredCount"] == 2
    assert service["cluster"] == outputs["cluster_arn"] and service["taskDefinition"] == task_arn(mocks)
    assert service["networkConfiguration"] == {"subnets": SUBNETS, "securityGroups": [outputs["security_group_id"]],
                                               "assignPublicIp": False}
    assert service["propagateTags"] == "SERVICE"


def test_without_a_port_the_group_takes_no_ingress_at_all(mocks):
    build(containers(port=None), vpc_cidr=None)  # no port, so no VPC range is needed
    group = mocks.one("aws:ec2/securityGroup:SecurityGroup").inputs
    assert not group.get("ingress") and mocks.of_type(INGRESS) == []
    assert "portMappings" not in definitions(mocks)[0]
    (egress,) = [r.inputs for r in mocks.of_type(EGRESS)]  # no VPC range given: only HTTPS out
    assert (egress["securityGroupId"], egress["ipProtocol"], egress["fromPort"], egress["cidrIpv4"]) == (
        "hpc-tasks-id", "tcp", 443, "0.0.0.0/0")


def egress_rules(mocks: RecordingMocks) -> set[tuple[str, object, object]]:
    return {(r.inputs["cidrIpv4"], r.inputs["ipProtocol"], r.inputs.get("fromPort")) for r in mocks.of_type(EGRESS)}


def test_tasks_reach_only_https_out_of_the_vpc_unless_the_spec_opens_more(mocks):
    build(containers())
    assert egress_rules(mocks) == {("0.0.0.0/0", "tcp", 443), (VPC_CIDR, "-1", None)}
    mocks.resources.clear()
    build(containers(egress_ports=[5432, 443]))
    assert egress_rules(mocks) == {("0.0.0.0/0", "tcp", 443), ("0.0.0.0/0", "tcp", 5432), (VPC_CIDR, "-1", None)}
    mocks.resources.clear()
    build(containers(egress_all=True))  # every protocol and port: only when asked, and said so
    (rule,) = mocks.of_type(EGRESS)
    assert (rule.inputs["cidrIpv4"], rule.inputs["ipProtocol"], rule.inputs["description"]) == (
        "0.0.0.0/0", "-1", "All outbound (containers.egress_all)")


def test_with_a_port_only_the_vpc_reaches_it(mocks):
    build(containers(port=8080))
    (rule,) = [r.inputs for r in mocks.of_type(INGRESS)]
    assert rule["securityGroupId"] == "hpc-tasks-id" and rule["cidrIpv4"] == VPC_CIDR
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 8080, 8080)
    assert not mocks.one("aws:ec2/securityGroup:SecurityGroup").inputs.get("ingress")


def test_every_resource_carries_the_stack_tags(mocks):
    build(containers())
    untaggable = {"cloud-hpc-toolkit:aws:ContainerService", ROLE}
    assert all(r.inputs.get("tags") == {"project": "chpc"} for r in mocks.resources if r.type not in untaggable)


def test_a_plaintext_secret_in_the_environment_is_refused_before_anything_is_declared(mocks):
    with pytest.raises(SecurityViolation, match=r"\[plaintext-secret\] hpc-task: .*DB_PASSWORD"):
        build(containers(environment={"DB_PASSWORD": "hunter2", "MODE": "prod"}))
    assert mocks.resources == []


def test_a_port_without_the_vpc_range_is_refused(mocks):
    with pytest.raises(ValueError, match="containers.port 8080 .* ContainerServiceArgs.vpc_cidr is required"):
        build(containers(port=8080), vpc_cidr=None)
    assert mocks.resources == []
