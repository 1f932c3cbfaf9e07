"""One-off tasks of the container service: start on Fargate, stream the container's log, return its exit code.

RunTask carries a ``clientToken`` made once per task: botocore resends a request whose answer was lost (a timeout,
a 5xx) with the same token, and ECS then returns the task it already started instead of starting a second one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3

from spec.outputs import ContainerService
from targets.aws.errors import AwsError, step


def run_task(session: boto3.session.Session, service: ContainerService, command: list[str] | None, *,
             timeout: float, on_log: Callable[[str], None], poll: float = 2.0) -> int:
    """Run the service's task definition once (private subnets, no public IP), print its log lines through
    ``on_log`` as they arrive, and return the container's exit code. A task still running after ``timeout``
    seconds, or when the user presses Ctrl-C, is stopped: nothing keeps running (and billing) behind their back."""
    ecs = session.client("ecs", region_name=service.region)
    logs = session.client("logs", region_name=service.region)
    prefix = _stream_prefix(ecs, service)
    task_arn = _start(ecs, service, command)
    stream = f"{prefix}/{service.container}/{task_arn.rsplit('/', 1)[-1]}"
    follow = _LogFollower(logs, service.log_group, stream, on_log)
    deadline = time.monotonic() + timeout
    try:
        while True:
            follow.drain()
            task = _describe(ecs, service, task_arn)
            if task["lastStatus"] == "STOPPED":
                follow.drain()
                return _exit_code(task, service)
            if time.monotonic() >= deadline:
                _stop(ecs, service, task_arn, f"run-task timed out after {timeout:g} s")
                raise AwsError(f"running task {task_arn}: still {task['lastStatus']} after {timeout:g} s, so it "
                               "was stopped; run it again with a larger timeout")
            time.sleep(poll)
    except KeyboardInterrupt:
        _stop(ecs, service, task_arn, "run-task interrupted (Ctrl-C)")
        raise


def _stream_prefix(ecs: Any, service: ContainerService) -> str:
    """The awslogs stream prefix from the task definition itself, so the stream name cannot drift from it."""
    with step(f"reading task definition {service.task_definition}",
              "check that the environment is up (`invoke up`) and the credentials allow ecs:DescribeTaskDefinition"):
        definition = ecs.describe_task_definition(taskDefinition=service.task_definition)["taskDefinition"]
    for container in definition["containerDefinitions"]:
        log = container.get("logConfiguration", {})
        if container["name"] == service.container and log.get("logDriver") == "awslogs":
            return log["options"]["awslogs-stream-prefix"]
    raise AwsError(f"reading task definition {service.task_definition}: container {service.container!r} has no "
                   "awslogs log configuration, so its output cannot be shown; deploy it with the toolkit's "
                   "ContainerService component")


def _start(ecs: Any, service: ContainerService, command: list[str] | None) -> str:
    request: dict[str, Any] = {
        "cluster": service.cluster, "taskDefinition": service.task_definition, "launchType": "FARGATE",
        "count": 1, "propagateTags": "TASK_DEFINITION", "clientToken": uuid.uuid4().hex,
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": service.subnets,
                                                         "securityGroups": service.security_groups,
                                                         "assignPublicIp": "DISABLED"}}}
    if command:
        request["overrides"] = {"containerOverrides": [{"name": service.container, "command": command}]}
    with step(f"starting a task of {service.task_definition} on cluster {service.cluster}",
              "check that the environment is up and the credentials allow ecs:RunTask and iam:PassRole"):
        answer = ecs.run_task(**request)
    if answer.get("failures") or not answer.get("tasks"):
        reasons = "; ".join(f"{f.get('arn', '')} {f.get('reason', '')} {f.get('detail', '')}".strip()
                            for f in answer.get("failures", [])) or "no task and no reason given"
        raise AwsError(f"starting a task of {service.task_definition} on cluster {service.cluster}: {reasons}; "
                       "check the subnets' capacity and the Fargate quotas of the account")
    return answer["tasks"][0]["taskArn"]


def _describe(ecs: Any, service: ContainerService, task_arn: str) -> dict[str, Any]:
    with step(f"following task {task_arn}", "the task keeps running; stop it with `aws ecs stop-task` if needed"):
        tasks = ecs.describe_tasks(cluster=service.cluster, tasks=[task_arn])["tasks"]
    if not tasks:
        raise AwsError(f"following task {task_arn}: ECS no longer knows the task; look at its log group "
                       f"{service.log_group}")
    return tasks[0]


def _stop(ecs: Any, service: ContainerService, task_arn: str, reason: str) -> None:
    with step(f"stopping task {task_arn}", "stop it with `aws ecs stop-task` before it runs up costs"):
        ecs.stop_task(cluster=service.cluster, task=task_arn, reason=reason)


def _exit_code(task: dict[str, Any], service: ContainerService) -> int:
    """The container's exit code; a task that never started has none, and its ``stoppedReason`` says why."""
    container = next((c for c in task.get("containers", []) if c.get("name") == service.container), {})
    if container.get("exitCode") is not None:
        return int(container["exitCode"])
    why = task.get("stoppedReason") or container.get("reason") or "no reason given"
    raise AwsError(f"task {task['taskArn']} stopped without an exit code for container {service.container!r} "
                   f"({task.get('stopCode', 'no stop code')}: {why}); check the image name, that the private "
                   "subnets reach ECR and CloudWatch (NAT or VPC endpoints), and the execution role")


class _LogFollower:
    """Reads a log stream forward from its head: each ``drain`` hands on only the events not handed on yet."""

    def __init__(self, logs: Any, group: str, stream: str, on_log: Callable[[str], None]) -> None:
        self.logs, self.group, self.stream, self.on_log = logs, group, stream, on_log
        self.token: str | None = None

    def drain(self) -> None:
        while True:
            request = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self.token:
                request["nextToken"] = self.token
            with step(f"reading log stream {self.stream} of {self.group}",
                      "the task keeps running; read its log in the CloudWatch console"):
                try:
                    answer = self.logs.get_log_events(**request)
                except self.logs.exceptions.ResourceNotFoundException:
                    return  # the container has not written anything yet, so the stream does not exist yet
            for event in answer["events"]:
                self.on_log(event["message"])
            if answer["nextForwardToken"] == self.token:
                return
            self.token = answer["nextForwardToken"]
