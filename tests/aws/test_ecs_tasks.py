"""One-off Fargate tasks against a real moto_server.

What moto 5.2.5 does with a Fargate task (moto/ecs/models.py): it starts RUNNING and moves one lifecycle
step per ``describe_tasks`` (RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED); no container
runs, so nothing writes to CloudWatch and every container reports ``exitCode`` 0 (``lastStatus`` stays
PENDING). The tests therefore play the container through botocore events on the test's session: on
``RunTask`` they write the first log lines, on each ``DescribeTasks`` one more, and, to get what real ECS
answers for a non-zero exit or a task that never started, they rewrite the parsed ``DescribeTasks`` answer.
moto's ``run_task`` also fails (HTTP 500) for a container definition without container-level ``memory``
(Fargate does not need it) and for an awsvpc task in a VPC without DNS hostnames (the task's network
interface then has no private DNS name); the fixture sets both.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from spec.outputs import ContainerService
from targets.aws.ecs_tasks import run_task
from targets.aws.errors import AwsError
from tests.aws import moto_fixture

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name

CONTAINER = "app"
GROUP = "/ecs/hpc-app"


@pytest.fixture
def service(aws_session) -> ContainerService:
    ec2, ecs, logs = (aws_session.client(s) for s in ("ec2", "ecs", "logs"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's awsvpc tasks need it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="task", Description="task", VpcId=vpc)["GroupId"]
    cluster = ecs.create_cluster(clusterName="hpc")["cluster"]["clusterName"]
    logs.create_log_group(logGroupName=GROUP)
    definition = register(ecs, {"logDriver": "awslogs", "options": {
        "awslogs-group": GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}})
    return ContainerService(provider="aws", region="us-east-1", cluster=cluster, task_definition=definition,
                            container=CONTAINER, subnets=[subnet], security_groups=[group], log_group=GROUP)


def register(ecs, log_configuration: dict[str, Any] | None) -> str:
    # container-level memory: Fargate does not need it, but moto's run_task fails with a 500 without it
    container = {"name": CONTAINER, "image": "public.ecr.aws/docker/library/python:3.12", "essential": True,
                 "memory": 512}
    if log_configuration:
        container["logConfiguration"] = log_configuration
    return ecs.register_task_definition(
        family="hpc", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn="arn:aws:iam::123456789012:role/exec", containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]


class Container:
    """Plays the container: writes its log lines while moto moves the task along, records what was seen."""

    def __init__(self, session, lines_at_start: list[str], lines_per_poll: list[str]) -> None:
        self.logs = session.client("logs")
        self.lines_at_start, self.pending = lines_at_start, list(lines_per_poll)
        self.timeline: list[str] = []
        self.run_request: dict[str, Any] = {}
        self.stream = ""
        self.clock = int(time.time() * 1000)  # CloudWatch rejects events older than 14 days
        session.events.register("before-parameter-build.ecs.RunTask", self.capture)
        session.events.register("after-call.ecs.RunTask", self.started)
        session.events.register("after-call.ecs.DescribeTasks", self.polled)

    def capture(self, params: dict[str, Any], **_: Any) -> None:
        self.run_request = json.loads(json.dumps(params))

    def started(self, parsed: dict[str, Any], **_: Any) -> None:
        task_id = parsed["tasks"][0]["taskArn"].rsplit("/", 1)[-1]
        self.stream = f"ecs/{CONTAINER}/{task_id}"
        self.logs.create_log_stream(logGroupName=GROUP, logStreamName=self.stream)
        self.write(self.lines_at_start)

    def polled(self, parsed: dict[str, Any], **_: Any) -> None:
        self.timeline.append(f"status {parsed['tasks'][0]['lastStatus']}")
        if self.pending:
            self.write([self.pending.pop(0)])

    def write(self, lines: list[str]) -> None:
        events = []
        for line in lines:
            self.clock += 1
            events.append({"timestamp": self.clock, "message": line})
        if events:
            answer = self.logs.put_log_events(logGroupName=GROUP, logStreamName=self.stream, logEvents=events)
            assert "rejectedLogEventsInfo" not in answer

    def on_log(self, line: str) -> None:
        self.timeline.append(line)


def test_runs_in_the_private_subnets_and_streams_the_log_in_order(aws_session, service):
    container = Container(aws_session, ["starting", "step 1"], ["step 2", "step 3", "step 4", "done"])

    code = run_task(aws_session, service, ["python", "-c", "print(1)"], timeout=30, on_log=container.on_log,
                    poll=0)

    assert code == 0  # moto's exit code for every container
    # streamed while the task ran, not dumped at the end; the line written as it stopped is not lost
    assert container.timeline == ["starting", "step 1", "status DEACTIVATING", "step 2", "status STOPPING",
                                  "step 3", "status DEPROVISIONING", "step 4", "status STOPPED", "done"]

    request = container.run_request
    assert request["launchType"] == "FARGATE" and request["count"] == 1
    assert request["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": service.subnets, "securityGroups": service.security_groups, "assignPublicIp": "DISABLED"}
    assert request["overrides"] == {"containerOverrides": [{"name": CONTAINER,
                                                            "command": ["python", "-c", "print(1)"]}]}
    task = aws_session.client("ecs").list_tasks(cluster=service.cluster)["taskArns"]
    assert len(task) == 1 and container.stream.endswith(task[0].rsplit("/", 1)[-1])


def test_a_retried_run_task_carries_the_same_client_token_so_ecs_starts_one_task(aws_session, service):
    """The first RunTask's answer is lost (a read timeout): botocore sends it again, with the same clientToken,
    which ECS uses to return the task it started instead of a second one (moto ignores the token: the test checks
    what was sent). Another run is another token."""
    sent: list[str] = []

    def lose_the_first_answer(request, **_: Any) -> None:
        sent.append(json.loads(request.body)["clientToken"])
        if len(sent) == 1:
            raise ReadTimeoutError(endpoint_url=request.url)

    aws_session.events.register("before-send.ecs.RunTask", lose_the_first_answer)
    container = Container(aws_session, [], [])
    assert run_task(aws_session, service, None, timeout=30, on_log=container.on_log, poll=0) == 0
    assert len(sent) == 2 and sent[0] == sent[1] and 1 <= len(sent[0]) <= 64
    assert len(aws_session.client("ecs").list_tasks(cluster=service.cluster, desiredStatus="STOPPED")["taskArns"]) \
        + len(aws_session.client("ecs").list_tasks(cluster=service.cluster)["taskArns"]) == 1
    run_task(aws_session, service, None, timeout=30, on_log=container.on_log, poll=0)
    assert len(sent) == 3 and sent[2] != sent[0]

def test_without_a_command_the_image_default_runs(aws_session, service):
    container = Container(aws_session, [], [])
    assert run_task(aws_session, service, None, timeout=30, on_log=container.on_log, poll=0) == 0
    assert "overrides" not in container.run_request
    assert [e for e in container.timeline if not e.startswith("status ")] == []


def rewrite_when_stopped(session, change) -> None:
    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        task = parsed["tasks"][0]
        if task["lastStatus"] == "STOPPED":
            change(task)
    session.events.register("after-call.ecs.DescribeTasks", rewrite)


def test_returns_the_containers_exit_code(aws_session, service):
    rewrite_when_stopped(aws_session, lambda task: task["containers"][0].update(exitCode=3))
    assert run_task(aws_session, service, ["false"], timeout=30, on_log=lambda line: None, poll=0) == 3


def test_a_task_that_never_started_raises_its_stopped_reason(aws_session, service):
    reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"

    def never_started(task: dict[str, Any]) -> None:
        task.update(stopCode="TaskFailedToStart", stoppedReason=reason)
        del task["containers"][0]["exitCode"]

    rewrite_when_stopped(aws_session, never_started)
    with pytest.raises(AwsError) as error:
        run_task(aws_session, service, None, timeout=30, on_log=lambda line: None, poll=0)
    message = str(error.value)
    assert reason in message and "TaskFailedToStart" in message and f"container '{CONTAINER}'" in message
    assert "NAT or VPC endpoints" in message


def test_a_task_still_running_at_the_timeout_is_stopped(aws_session, service):
    with pytest.raises(AwsError, match=r"still DEACTIVATING after 0 s, so it was stopped"):
        run_task(aws_session, service, None, timeout=0, on_log=lambda line: None, poll=0)
    ecs = aws_session.client("ecs")
    arn = ecs.list_tasks(cluster=service.cluster)["taskArns"][0]
    task = ecs.describe_tasks(cluster=service.cluster, tasks=[arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED" and "timed out" in task["stoppedReason"]


def test_ctrl_c_stops_the_task_before_giving_up(aws_session, service):
    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    Container(aws_session, ["first line"], [])
    with pytest.raises(KeyboardInterrupt):
        run_task(aws_session, service, None, timeout=30, on_log=interrupt, poll=0)
    ecs = aws_session.client("ecs")
    arn = ecs.list_tasks(cluster=service.cluster)["taskArns"][0]
    task = ecs.describe_tasks(cluster=service.cluster, tasks=[arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED" and "interrupted" in task["stoppedReason"]


def test_an_unknown_cluster_names_the_step(aws_session, service):
    gone = service.model_copy(update={"cluster": "deleted-cluster"})
    with pytest.raises(AwsError, match="starting a task of .* on cluster deleted-cluster: .*ClusterNotFound"):
        run_task(aws_session, gone, None, timeout=30, on_log=lambda line: None, poll=0)


def test_a_task_definition_without_awslogs_is_refused_before_starting(aws_session, service):
    ecs = aws_session.client("ecs")
    silent = service.model_copy(update={"task_definition": register(ecs, None)})
    with pytest.raises(AwsError, match="container 'app' has no awslogs log configuration"):
        run_task(aws_session, silent, None, timeout=30, on_log=lambda line: None, poll=0)
    assert ecs.list_tasks(cluster=service.cluster)["taskArns"] == []
