"""One-off runs of the container service on Azure Container Instances: a copy of the service's container group
(restart policy Never, the command override), its log streamed, its exit code returned, the copy deleted.

ACI has no "run a task from this definition": the service's group is the definition (``task_definition`` is its
ARM id). ARM does not return secrets in it, so the Log Analytics key is fetched again from the workspace the
group names; secure environment values and registry passwords are not returned either, and the toolkit's
component sets none.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from azure.core.rest import HttpRequest
from azure.mgmt.containerinstance import ContainerInstanceManagementClient
from azure.mgmt.containerinstance.models import ContainerGroup, ContainerPropertiesInstanceView

from spec.outputs import AzureScope, ContainerService
from targets.azure.errors import AzureError, step
from targets.azure.session import AzureSession

SHARED_KEYS_API = "2020-08-01"  # Microsoft.OperationalInsights/workspaces/sharedKeys
MAX_NAME = 63  # container group names: lowercase letters, digits and '-', up to 63
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # orders an event without timestamps first


def run_task(session: AzureSession, scope: AzureScope, service: ContainerService, command: list[str] | None, *,
             timeout: float, on_log: Callable[[str], None], poll: float = 2.0) -> int:
    """Run the service's container once in a copy of its group, print its log lines through ``on_log`` as they
    arrive, and return the container's exit code. The copy is deleted afterwards whatever happened (timeout,
    failure, Ctrl-C): nothing keeps running (and billing) behind the user's back."""
    client = session.client(ContainerInstanceManagementClient)
    group = _one_off(client, scope, service, command)
    name = one_off_name(service.cluster)
    with step(f"starting one-off container group {name}",
              "check that the environment is up and the credentials may create container groups in "
              f"{scope.resource_group}"):
        client.container_groups.begin_create_or_update(scope.resource_group, name, group, polling=False).result()
    try:
        return _follow(client, scope, service, name, time.monotonic() + timeout, timeout, on_log, poll)
    finally:
        with step(f"deleting one-off container group {name}",
                  f"delete it with `az container delete -g {scope.resource_group} -n {name} --yes`"):
            client.container_groups.begin_delete(scope.resource_group, name, polling=False).result()


def one_off_name(service_group: str) -> str:
    """A fresh group name that says which service it copies."""
    suffix = f"-run-{secrets.token_hex(4)}"
    return service_group[:MAX_NAME - len(suffix)].rstrip("-") + suffix


def _one_off(client: ContainerInstanceManagementClient, scope: AzureScope, service: ContainerService,
             command: list[str] | None) -> ContainerGroup:
    """The service's group as a definition for one run: its container only, restart policy Never, no ports
    (nothing connects to a one-off run), the same subnet, identity and tags, and the log key fetched again."""
    with step(f"reading container group {service.cluster}",
              "check that the environment is up (`invoke up`) and the credentials may read container groups"):
        group = client.container_groups.get(scope.resource_group, service.cluster)
    container = next((c for c in group.containers if c.name == service.container), None)
    if container is None:
        raise AzureError(f"reading container group {service.cluster}: it has no container {service.container!r}; "
                         "run `invoke up` again to bring the service back to its definition")
    if command:
        container.command = command
    container.ports = None
    group.containers = [container]
    group.restart_policy = "Never"
    group.ip_address = None
    logs = group.diagnostics.log_analytics if group.diagnostics else None
    if logs is not None and not logs.workspace_key:
        if not logs.workspace_resource_id:
            raise AzureError(f"reading container group {service.cluster}: its Log Analytics settings name no "
                             "workspace resource id, so the one-off run cannot log there; deploy it with the "
                             "toolkit's AzureContainerService component")
        logs.workspace_key = _workspace_key(client, logs.workspace_resource_id)
    return group


def _workspace_key(client: ContainerInstanceManagementClient, workspace_id: str) -> str:
    """ARM keeps a workspace's shared key out of the container group; the workspace hands it out on request."""
    request = HttpRequest("POST", f"{workspace_id}/sharedKeys", params={"api-version": SHARED_KEYS_API})
    with step(f"reading the shared key of Log Analytics workspace {workspace_id.rsplit('/', 1)[-1]}",
              "the credentials need Microsoft.OperationalInsights/workspaces/sharedKeys/action on it"):
        response = client._send_request(request)  # the SDK's documented way to call an operation it lacks
        response.raise_for_status()
    return response.json()["primarySharedKey"]


def _follow(client: ContainerInstanceManagementClient, scope: AzureScope, service: ContainerService, name: str,
            deadline: float, timeout: float, on_log: Callable[[str], None], poll: float) -> int:
    shown = _LogFollower(client, scope, name, service.container, on_log)
    while True:
        with step(f"following one-off container group {name}", "it is deleted now; run it again"):
            group = client.container_groups.get(scope.resource_group, name)
        container = next(c for c in group.containers if c.name == service.container)
        view = container.instance_view
        state = view.current_state if view and view.current_state else None
        if state is not None and state.state in ("Running", "Terminated"):
            shown.drain(final=state.state == "Terminated")
        if state is not None and state.state == "Terminated":
            if state.exit_code is None:
                raise AzureError(f"one-off container group {name}: container {service.container!r} ended without "
                                 f"an exit code ({state.detail_status or 'no detail'}); {_last_event(group, view)}")
            return int(state.exit_code)
        if group.provisioning_state == "Failed":  # after the exit code: a container that ran has its answer
            raise AzureError(f"one-off container group {name} failed to start: {_last_event(group, view)}; "
                             "check the image name and that the subnet reaches the registry (NAT)")
        if time.monotonic() >= deadline:
            status = state.state if state else group.provisioning_state
            raise AzureError(f"one-off container group {name}: still {status} after {timeout:g} s "
                             f"({_last_event(group, view)}), so it was deleted; run it again with a larger timeout")
        time.sleep(poll)


def _last_event(group: ContainerGroup, view: ContainerPropertiesInstanceView | None) -> str:
    """The newest event ACI recorded for the container or the group, which says why it does not run."""
    events = [*((view.events or []) if view else []), *((group.instance_view.events or []) if group.instance_view
                                                         else [])]
    told = [event for event in events if event.message]
    if not told:
        return "no event recorded"
    newest = max(told, key=lambda event: event.last_timestamp or event.first_timestamp or EPOCH)
    return f"{newest.name}: {newest.message}"


class _LogFollower:
    """ACI hands out a container's whole log each time: each ``drain`` passes on only the lines not passed on
    yet, and keeps an unfinished last line back until the container has ended."""

    def __init__(self, client: ContainerInstanceManagementClient, scope: AzureScope, group: str, container: str,
                 on_log: Callable[[str], None]) -> None:
        self.client, self.scope, self.group, self.container, self.on_log = client, scope, group, container, on_log
        self.shown = 0

    def drain(self, final: bool) -> None:
        with step(f"reading the log of container {self.container} in {self.group}",
                  "the run goes on; read the log in the environment's Log Analytics workspace"):
            content = self.client.containers.list_logs(self.scope.resource_group, self.group, self.container).content
        lines = (content or "").split("\n")
        complete = lines if final else lines[:-1]  # the piece after the last newline may still grow
        if final and complete and complete[-1] == "":
            complete = complete[:-1]
        for line in complete[self.shown:]:
            self.on_log(line)
        self.shown = max(self.shown, len(complete))
