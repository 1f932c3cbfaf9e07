"""The local Resource Manager refuses what ARM refuses, so a test against it fails when the code sends a wrong
api-version or a body ARM cannot read (not only when it sends none)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.containerinstance import ContainerInstanceManagementClient

from targets.azure.container_tasks import SHARED_KEYS_API
from targets.azure.session import AzureSession
from tests.azure.fake_arm import API_VERSIONS, SUBSCRIPTION, FakeArm, Reply

RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/hpc-rg"
GROUP = f"{RG}/providers/Microsoft.ContainerInstance/containerGroups/hpc-group-0"
WORKSPACE = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/hpc-logs"
CONTAINER = {"name": "hpc", "properties": {"image": "python:3.12", "resources": {"requests": {"cpu": 1,
                                                                                          "memoryInGB": 1.5}}}}


def send(session: AzureSession, method: str, path: str, version: str, body: Any = None) -> tuple[int, dict]:
    client = session.client(ContainerInstanceManagementClient)
    request = HttpRequest(method, path, params={"api-version": version}, json=body)
    response = client._send_request(request)  # the SDK's documented way to call an operation it lacks
    return response.status_code, response.json() if response.content else {}


def test_the_versions_the_code_and_the_pinned_sdk_use_are_documented(arm: FakeArm,
                                                                      azure_session: AzureSession) -> None:
    assert SHARED_KEYS_API in API_VERSIONS["microsoft.operationalinsights"]
    arm.put(GROUP, {"location": "westeurope", "properties": {"osType": "Linux", "containers": [CONTAINER]}})
    found = azure_session.client(ContainerInstanceManagementClient).container_groups.get("hpc-rg", "hpc-group-0")
    assert found.containers[0].image == "python:3.12"


@pytest.mark.parametrize("version", ["2099-01-01", "2020-08-01", "latest", ""])
def test_an_api_version_the_provider_does_not_serve_is_refused_as_arm_refuses_it(azure_session: AzureSession,
                                                                                  version: str) -> None:
    client = azure_session.client(ContainerInstanceManagementClient, api_version=version)
    with pytest.raises(HttpResponseError) as caught:
        client.container_groups.get("hpc-rg", "hpc-group-0")
    assert caught.value.status_code == 400
    assert caught.value.error is not None and caught.value.error.code in ("NoRegisteredProviderFound",
                                                                          "MissingApiVersionParameter")


def test_a_shared_keys_call_with_another_providers_version_is_refused(arm: FakeArm,
                                                                       azure_session: AzureSession) -> None:
    arm.route("POST", f"{WORKSPACE}/sharedKeys", lambda request, match: Reply(200, {"primarySharedKey": "k"}))
    assert send(azure_session, "POST", f"{WORKSPACE}/sharedKeys", SHARED_KEYS_API) == (200, {"primarySharedKey": "k"})
    status, body = send(azure_session, "POST", f"{WORKSPACE}/sharedKeys", "2023-05-01")
    assert (status, body["error"]["code"]) == (400, "NoRegisteredProviderFound")


@pytest.mark.parametrize(("body", "problem"), [
    ({"location": "westeurope", "osType": "Linux", "containers": [CONTAINER]}, "go under 'properties'"),
    ({"location": "westeurope", "properties": {"osType": "Linux", "containers": []}}, "non-empty list"),
    ({"properties": {"osType": "Linux", "containers": [CONTAINER]}}, "needs location"),
    ({"location": "westeurope", "properties": {"osType": "Linux", "containers": [{"name": "hpc", "properties": {
        "image": "python:3.12"}}]}}, "resources.requests"),
    (["not", "an", "object"], "must be a JSON object"),
])
def test_a_container_group_body_arm_cannot_read_is_refused_and_not_stored(arm: FakeArm, azure_session: AzureSession,
                                                                           body: Any, problem: str) -> None:
    status, answer = send(azure_session, "PUT", GROUP, "2023-05-01", body)
    assert (status, answer["error"]["code"]) == (400, "InvalidRequestContent")
    assert problem in answer["error"]["message"]
    assert arm.get(GROUP) is None


def test_a_well_formed_container_group_is_stored(arm: FakeArm, azure_session: AzureSession) -> None:
    body = {"location": "westeurope", "tags": {"k": "v"}, "properties": {"osType": "Linux", "containers": [CONTAINER]}}
    status, answer = send(azure_session, "PUT", GROUP, "2023-05-01", body)
    assert status == 201 and answer["properties"]["containers"] == [CONTAINER]
