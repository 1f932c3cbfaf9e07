"""One-off runs of the Azure container service through the real SDK against the local Resource Manager.

The service's group is seeded as ARM returns it (no Log Analytics key: ARM never returns it). The one-off group
is played by routes: its PUT is recorded and answered "Pending", each GET moves it one step along a script
(container Waiting, Running, Terminated with an exit code) while its log grows, and its log path answers the
whole log so far, as ACI's does.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from invoke import Context
from invoke.exceptions import Exit

import invoke_tasks
from spec.outputs import AzureScope, ContainerService, Outputs
from targets.azure import session as session_module
from targets.azure.container_tasks import one_off_name, run_task
from targets.azure.errors import AzureError
from tests.azure.fake_arm import SUBSCRIPTION, FakeArm, Reply, Request

RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/hpc-rg"
GROUPS = f"{RG}/providers/Microsoft.ContainerInstance/containerGroups"
SERVICE = "hpc-group-0"
WORKSPACE = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/hpc-logs"
IDENTITY = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hpc-identity"
SUBNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/hpc-vnet/subnets/hpc-containers"
SCOPE = AzureScope(subscription_id=SUBSCRIPTION, resource_group="hpc-rg")
ONE_OFF = rf"{GROUPS}/({SERVICE}-run-[0-9a-f]{{8}})"


@pytest.fixture
def service(arm: FakeArm) -> ContainerService:
    arm.put(f"{GROUPS}/{SERVICE}", {
        "location": "westeurope", "tags": {"chpc:environment": "hpc"},
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {
            IDENTITY: {"principalId": "p-1", "clientId": "c-1"}}},
        "properties": {
            "containers": [{"name": "hpc", "properties": {
                "image": "mcr.microsoft.com/azurelinux/base/python:3.12", "command": ["python3", "-m", "http.server"],
                "ports": [{"port": 8000, "protocol": "TCP"}],
                "environmentVariables": [{"name": "MODE", "value": "prod"}],
                "resources": {"requests": {"cpu": 0.5, "memoryInGB": 1.5}},
                "instanceView": {"restartCount": 0, "currentState": {"state": "Running"}}}}],
            "restartPolicy": "Always", "osType": "Linux", "sku": "Standard",
            "ipAddress": {"type": "Private", "ip": "10.40.16.4", "ports": [{"port": 8000, "protocol": "TCP"}]},
            "subnetIds": [{"id": SUBNET}],
            "diagnostics": {"logAnalytics": {"workspaceId": "customer-id", "workspaceResourceId": WORKSPACE,
                                             "logType": "ContainerInstanceLogs"}}}})
    arm.route("POST", f"{WORKSPACE}/sharedKeys",
              lambda request, match: Reply(200, {"primarySharedKey": "key==", "secondarySharedKey": "other=="}))
    return ContainerService(provider="azure", region="westeurope", cluster=SERVICE,
                            task_definition=f"{GROUPS}/{SERVICE}", container="hpc", subnets=[SUBNET],
                            security_groups=[], log_group="customer-id")


class OneOff:
    """Plays the one-off group: ``script`` is one (provisioning state, container state, exit code, new log)
    per GET; the last step repeats. ``timeline`` records the states polled and the lines shown, in order."""

    def __init__(self, arm: FakeArm, script: list[tuple[str, str, int | None, str]],
                 events: list[dict[str, Any]] | None = None) -> None:
        self.arm, self.script, self.events = arm, list(script), events or []
        self.body: dict[str, Any] = {}
        self.log = ""
        self.timeline: list[str] = []
        arm.route("PUT", ONE_OFF, self.created)
        arm.route("GET", ONE_OFF, self.polled)
        arm.route("GET", rf"{ONE_OFF}/containers/hpc/logs", lambda request, match: Reply(200, {"content": self.log}))

    def created(self, request: Request, match: re.Match[str]) -> Reply:
        self.body = request.body
        stored = self.arm.put(request.path, request.body)
        stored["properties"]["provisioningState"] = "Pending"
        return Reply(201, stored)

    def polled(self, request: Request, match: re.Match[str]) -> Reply:
        stored = self.arm.get(request.path)
        if stored is None:
            return Reply(404, {"error": {"code": "ResourceNotFound", "message": request.path}})
        provisioning, state, exit_code, new_log = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        self.log += new_log
        self.timeline.append(f"status {state}")
        current: dict[str, Any] = {"state": state}
        if exit_code is not None:
            current["exitCode"] = exit_code
        stored["properties"]["provisioningState"] = provisioning
        stored["properties"]["containers"][0]["properties"]["instanceView"] = {
            "restartCount": 0, "currentState": current, "events": self.events}
        return Reply(200, stored)

    def on_log(self, line: str) -> None:
        self.timeline.append(line)


RUN = [("Pending", "Waiting", None, ""), ("Succeeded", "Running", None, "starting\nstep 1\nstep"),
       ("Succeeded", "Running", None, " 2\n"), ("Succeeded", "Terminated", 0, "done\n")]


def deleted(arm: FakeArm) -> list[str]:
    return [r.path for r in arm.requests if r.method == "DELETE"]


def test_a_one_off_copy_runs_streams_its_log_once_each_line_and_is_deleted(arm, azure_session, service):
    run = OneOff(arm, RUN)
    code = run_task(azure_session, SCOPE, service, ["python3", "-c", "print(1)"], timeout=30, on_log=run.on_log,
                    poll=0)
    assert code == 0
    # streamed while it ran, the unfinished "step" held back until its line was complete, nothing twice
    assert run.timeline == ["status Waiting", "status Running", "starting", "step 1", "status Running", "step 2",
                            "status Terminated", "done"]
    properties = run.body["properties"]
    assert properties["restartPolicy"] == "Never"
    [container] = properties["containers"]
    assert container["name"] == "hpc" and container["properties"]["command"] == ["python3", "-c", "print(1)"]
    assert "ports" not in container["properties"] and "ipAddress" not in properties
    assert container["properties"]["environmentVariables"] == [{"name": "MODE", "value": "prod"}]
    assert container["properties"]["resources"] == {"requests": {"cpu": 0.5, "memoryInGB": 1.5}}
    assert "instanceView" not in container["properties"]  # read-only fields of the copied group stay out
    assert properties["subnetIds"] == [{"id": SUBNET}]
    assert run.body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}
    assert properties["diagnostics"]["logAnalytics"] == {
        "workspaceId": "customer-id", "workspaceKey": "key==", "workspaceResourceId": WORKSPACE,
        "logType": "ContainerInstanceLogs"}
    assert (run.body["location"], run.body["tags"]) == ("westeurope", {"chpc:environment": "hpc"})
    [path] = deleted(arm)
    assert re.fullmatch(ONE_OFF, path) and arm.get(path) is None
    assert arm.get(f"{GROUPS}/{SERVICE}")["properties"]["restartPolicy"] == "Always"  # the service is untouched


def test_without_a_command_the_service_command_runs_and_a_failing_exit_code_is_returned(arm, azure_session,
                                                                                         service):
    run = OneOff(arm, [("Succeeded", "Running", None, "working\n"), ("Succeeded", "Terminated", 3, "boom\n")])
    assert run_task(azure_session, SCOPE, service, None, timeout=30, on_log=run.on_log, poll=0) == 3
    assert run.body["properties"]["containers"][0]["properties"]["command"] == ["python3", "-m", "http.server"]
    assert [line for line in run.timeline if not line.startswith("status")] == ["working", "boom"]
    assert len(deleted(arm)) == 1


def test_a_run_past_the_timeout_is_deleted_with_a_one_line_error(arm, azure_session, service):
    run = OneOff(arm, [("Succeeded", "Running", None, "still going\n")])
    with pytest.raises(AzureError, match=r"one-off container group hpc-group-0-run-[0-9a-f]{8}: still Running "
                                         r"after 0 s \(no event recorded\), so it was deleted; run it again with a "
                                         r"larger timeout$"):
        run_task(azure_session, SCOPE, service, None, timeout=0, on_log=run.on_log, poll=0)
    assert run.timeline == ["status Running", "still going"]
    [path] = deleted(arm)
    assert arm.get(path) is None


def test_ctrl_c_deletes_the_one_off_group_too(arm, azure_session, service):
    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    OneOff(arm, [("Succeeded", "Running", None, "first line\n")])
    with pytest.raises(KeyboardInterrupt):
        run_task(azure_session, SCOPE, service, None, timeout=30, on_log=interrupt, poll=0)
    assert len(deleted(arm)) == 1


def test_a_group_that_fails_to_start_names_the_event_and_is_deleted(arm, azure_session, service):
    pull = 'Failed to pull image "mcr.microsoft.com/nope:1": manifest unknown'
    events = [{"count": 1, "name": "Pulling", "type": "Normal", "message": "pulling image",
               "firstTimestamp": "2026-01-01T10:00:00Z", "lastTimestamp": "2026-01-01T10:00:00Z"},
              {"count": 3, "name": "Failed", "type": "Warning", "message": pull,
               "firstTimestamp": "2026-01-01T10:00:01Z", "lastTimestamp": "2026-01-01T10:00:09Z"}]
    run = OneOff(arm, [("Pending", "Waiting", None, ""), ("Failed", "Waiting", None, "")], events=events)
    with pytest.raises(AzureError) as error:
        run_task(azure_session, SCOPE, service, None, timeout=30, on_log=run.on_log, poll=0)
    message = str(error.value)
    assert "failed to start: Failed: " + pull in message and "check the image name" in message
    assert "\n" not in message and len(deleted(arm)) == 1


def test_a_container_that_ran_gives_its_exit_code_even_when_the_group_reports_failed(arm, azure_session, service):
    run = OneOff(arm, [("Failed", "Terminated", 137, "killed\n")])
    assert run_task(azure_session, SCOPE, service, None, timeout=30, on_log=run.on_log, poll=0) == 137
    assert run.timeline == ["status Terminated", "killed"] and len(deleted(arm)) == 1


def test_a_definition_arm_refuses_names_its_message_and_leaves_nothing_to_delete(arm, azure_session, service):
    arm.route("PUT", ONE_OFF, lambda request, match: Reply(400, {"error": {
        "code": "InaccessibleImage", "message": "The image 'nope:1' in container group 'x' is not accessible."}}))
    with pytest.raises(AzureError, match=r"^starting one-off container group hpc-group-0-run-[0-9a-f]{8}: .*"
                                         r"The image 'nope:1' .* is not accessible\..*; check that the environment"):
        run_task(azure_session, SCOPE, service, None, timeout=30, on_log=lambda line: None, poll=0)
    assert deleted(arm) == []


def test_a_service_that_is_gone_names_the_step(arm, azure_session, service):
    gone = service.model_copy(update={"cluster": "deleted-group"})
    with pytest.raises(AzureError, match=r"^reading container group deleted-group: .*ResourceNotFound.*invoke up"):
        run_task(azure_session, SCOPE, gone, None, timeout=30, on_log=lambda line: None, poll=0)
    assert [r.method for r in arm.requests] == ["GET"]


def test_one_off_names_are_unique_and_fit_azure() -> None:
    names = {one_off_name("x" * 70) for _ in range(20)}
    assert len(names) == 20
    assert all(len(name) <= 63 and re.fullmatch(r"x+-run-[0-9a-f]{8}", name) for name in names)


def test_invoke_run_task_takes_the_azure_path_and_exits_with_the_code(arm, azure_session, service, tmp_path,
                                                                      monkeypatch, capsys):
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(session_module, "for_scope", lambda scope: azure_session if scope == SCOPE else None)
    Outputs(target="azure", name="ctr", region="westeurope", ssh_user="azureuser", ssh_private_key="/k",
            containers=service, azure=SCOPE).save(tmp_path / "ctr" / "outputs.json")
    run = OneOff(arm, [("Succeeded", "Terminated", 3, "from the container\n")])
    with pytest.raises(Exit) as exited:
        invoke_tasks.run_task(Context(), command="python3 -c 'exit(3)'", timeout=30, name="ctr")
    assert exited.value.code == 3
    assert run.body["properties"]["containers"][0]["properties"]["command"] == ["python3", "-c", "exit(3)"]
    assert "from the container" in capsys.readouterr().out and len(deleted(arm)) == 1
