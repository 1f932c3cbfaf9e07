"""The container service: one image run on Fargate in the private subnets, as a service (``desired_count``)
and as one-off tasks (``invoke run-task``), with its registry, its logs and least-privilege roles.

Nothing outlives ``destroy``: the repository is force-deleted with its images and the log group goes with
the stack (ParallelCluster users find leftover log groups on their bill).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.security import check_resource, refuse
from spec import environment as spec

LOG_STREAM_PREFIX = "ecs"  # streams are <prefix>/<container>/<task id>; run-task reads it from the task definition
LOG_RETENTION_DAYS = 30
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


@dataclass(frozen=True)
class ContainerServiceArgs:
    containers: spec.Containers
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]  # private subnets: tasks get no public IP
    tags: dict[str, str]
    vpc_cidr: pulumi.Input[str] | None = None  # the only source the container port is opened to (needed with a port)


def container_definition(name: str, containers: spec.Containers) -> dict[str, Any]:
    """The container as ECS takes it, without its log configuration (which needs the log group's name)."""
    definition: dict[str, Any] = {"name": name, "image": containers.image, "essential": True}
    if containers.command:
        definition["command"] = list(containers.command)
    if containers.environment:
        definition["environment"] = [{"name": key, "value": value}
                                     for key, value in sorted(containers.environment.items())]
    if containers.port is not None:
        definition["portMappings"] = [{"containerPort": containers.port, "hostPort": containers.port,
                                       "protocol": "tcp"}]
    return definition


def normalised_json(value: Any) -> str:
    """Sorted keys and no nulls: the provider compares the string, so any other spelling is a diff on every up."""
    def strip(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: strip(inner) for key, inner in item.items() if inner is not None}
        if isinstance(item, list):
            return [strip(inner) for inner in item]
        return item

    return json.dumps(strip(value), sort_keys=True, separators=(",", ":"))


def _role_policy(condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                 "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return normalised_json({"Version": "2012-10-17", "Statement": [statement]})


class ContainerService(pulumi.ComponentResource):
    """ECS cluster, ECR repository, log group, roles, task definition, security group and Fargate service."""

    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    task_definition_arn: pulumi.Output[str]
    service_name: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    container_name: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        containers, tags = args.containers, args.tags
        if containers.port is not None and args.vpc_cidr is None:
            raise ValueError(f"container service {name}: containers.port {containers.port} is opened to the VPC "
                             "only, so ContainerServiceArgs.vpc_cidr is required with a port")
        container = container_definition(name, containers)
        refuse(check_resource(TASK_DEFINITION, {"containerDefinitions": [container]}, f"{name}-task"))
        super().__init__("cloud-hpc-toolkit:aws:ContainerService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region(opts=invoke).region
        partition = aws.get_partition(opts=invoke).partition
        account = aws.get_caller_identity(opts=invoke).account_id

        cluster = aws.ecs.Cluster(f"{name}-cluster", settings=[{"name": "containerInsights", "value": "enabled"}],
                                  tags=tags, opts=child)
        repository = aws.ecr.Repository(
            f"{name}-repo", image_scanning_configuration={"scan_on_push": True}, image_tag_mutability="IMMUTABLE",
            encryption_configurations=[{"encryption_type": "AES256"}], force_delete=True, tags=tags, opts=child)
        logs = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=LOG_RETENTION_DAYS, skip_destroy=False,
                                       tags=tags, opts=child)

        execution = aws.iam.Role(f"{name}-execution", assume_role_policy=_role_policy(),
                                 description="ECS agent: pull the image, write the log", tags=tags, opts=child)
        execution_policy = aws.iam.RolePolicyAttachment(
            f"{name}-execution-policy", role=execution.name,
            policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy", opts=child)
        # The application's own role: no permission at all until the user attaches what the app needs. Only
        # ECS tasks of this account and region may assume it (the confused-deputy conditions AWS recommends).
        task_role = aws.iam.Role(f"{name}-task", assume_role_policy=_role_policy({
            "ArnLike": {"aws:SourceArn": f"arn:{partition}:ecs:{region}:{account}:*"},
            "StringEquals": {"aws:SourceAccount": account}}),
            description="The container's application (no permissions by default)", tags=tags, opts=child)

        definitions = logs.name.apply(lambda group: normalised_json([{**container, "logConfiguration": {
            "logDriver": "awslogs", "options": {"awslogs-group": group, "awslogs-region": region,
                                                "awslogs-stream-prefix": LOG_STREAM_PREFIX}}}]))
        task = aws.ecs.TaskDefinition(
            f"{name}-task", family=cluster.name, requires_compatibilities=["FARGATE"], network_mode="awsvpc",
            cpu=str(containers.cpu), memory=str(containers.memory_mb), container_definitions=definitions,
            execution_role_arn=execution.arn, task_role_arn=task_role.arn, tags=tags, opts=child)

        group = aws.ec2.SecurityGroup(f"{name}-tasks", vpc_id=args.vpc_id, description="Container tasks",
                                      tags=tags, opts=child)
        _task_egress(name, group, containers, args.vpc_cidr, tags, child)
        if containers.port is not None:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-tasks-port", security_group_id=group.id, ip_protocol="tcp", from_port=containers.port,
                to_port=containers.port, cidr_ipv4=args.vpc_cidr, description="Container port from inside the VPC",
                tags=tags, opts=child)

        service = aws.ecs.Service(
            f"{name}-service", cluster=cluster.arn, task_definition=task.arn, desired_count=containers.desired_count,
            launch_type="FARGATE", network_configuration={"subnets": args.subnet_ids, "security_groups": [group.id],
                                                          "assign_public_ip": False},
            propagate_tags="SERVICE", enable_ecs_managed_tags=True, tags=tags,
            # tasks started before the execution role may pull images would fail the first deployment
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_policy]))

        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.task_definition_arn = task.arn
        self.service_name = service.name
        self.repository_url = repository.repository_url
        self.log_group_name = logs.name
        self.security_group_id = group.id
        self.container_name = pulumi.Output.from_input(name)
        self.register_outputs({
            "cluster_name": self.cluster_name, "cluster_arn": self.cluster_arn,
            "task_definition_arn": self.task_definition_arn, "service_name": self.service_name,
            "repository_url": self.repository_url, "log_group_name": self.log_group_name,
            "security_group_id": self.security_group_id, "container_name": self.container_name,
        })


def _task_egress(name: str, group: aws.ec2.SecurityGroup, containers: spec.Containers,
                 vpc_cidr: pulumi.Input[str] | None, tags: dict[str, str], child: pulumi.ResourceOptions) -> None:
    """Out of the VPC only the spec's TCP ports (HTTPS by default: image pulls, logs, secrets), every protocol
    and port only with ``egress_all``; inside the VPC, everything."""
    if containers.egress_all:
        aws.vpc.SecurityGroupEgressRule(f"{name}-tasks-egress", security_group_id=group.id, ip_protocol="-1",
                                        cidr_ipv4="0.0.0.0/0", description="All outbound (containers.egress_all)",
                                        tags=tags, opts=child)
        return
    for port in sorted(set(containers.egress_ports)):
        aws.vpc.SecurityGroupEgressRule(f"{name}-tasks-egress-{port}", security_group_id=group.id,
                                        ip_protocol="tcp", from_port=port, to_port=port, cidr_ipv4="0.0.0.0/0",
                                        description=f"TCP {port} out (containers.egress_ports)", tags=tags,
                                        opts=child)
    if vpc_cidr is not None:
        aws.vpc.SecurityGroupEgressRule(f"{name}-tasks-egress-vpc", security_group_id=group.id, ip_protocol="-1",
                                        cidr_ipv4=vpc_cidr, description="All inside the VPC", tags=tags,
                                        opts=child)
