"""A retained managed disk comes back, against the local TLS Resource Manager (tests/azure/fake_arm.py): the
program's lookups make the GETs azure-native's getters make (a 404 answered as azure-native words it), its resources
are PUT, read (imported) and deleted there as azure-native's Create, Read and Delete do (Create refusing a resource
that exists, as azure-native does), and the stack's state is kept between runs as Pulumi's engine keeps it. A whole
life is played: up, an up of the live environment, destroy, up again, destroy again.

Not played: Pulumi's engine and azure-native themselves (neither can run here), whose behaviour this stand-in
follows as documented (``retain_on_delete``, ``import_``, the getters' 404).
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest
import requests

from components.azure.storage import AzureStorage, AzureStorageArgs
from spec import environment as spec
from spec.outputs import ENVIRONMENT_TAG, Outputs
from targets.azure.backend import BACKEND
from targets.backend import Record
from targets.plan.mock_run import arm_failure
from tests.azure.fake_arm import SUBSCRIPTION, TOKEN, FakeArm, Reply
from tests.pulumi_helpers import retained

NAME, REGION = "hpc", "westeurope"
SUB = f"/subscriptions/{SUBSCRIPTION}"
GROUP, DISK = "azure-native:resources:ResourceGroup", "azure-native:compute:Disk"
# The API versions azure-native 3.29 pins these types to (its docs: "Uses Azure REST API version ...").
API = {"resources": "2024-03-01", "compute": "2024-03-02"}
TAGS = {ENVIRONMENT_TAG: NAME}
KEPT_GROUP = f"{SUB}/resourceGroups/{NAME}-retained-{REGION}"


class ArmProvider(pulumi.runtime.Mocks):
    """azure-native and the engine's state, played against the fake Resource Manager over HTTPS."""

    def __init__(self, arm: FakeArm) -> None:
        self.arm = arm
        self.stack: dict[tuple[str, str], str] = {}  # (type, name) -> id
        self.created: list[str] = []
        self.imported: list[str] = []

    def _request(self, method: str, path: str, api: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(method, f"{self.arm.url}{path}", params={"api-version": API[api]}, json=body,
                                headers={"Authorization": f"Bearer {TOKEN}"}, verify=self.arm.ca_file, timeout=10)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        """The getters: a GET of the resource; anything but 200 fails as azure-native fails."""
        group = f"{SUB}/resourcegroups/{args.args['resourceGroupName']}"
        if args.token == "azure-native:resources:getResourceGroup":
            path, api = group, "resources"
        elif args.token == "azure-native:compute:getDisk":
            path, api = f"{group}/providers/Microsoft.Compute/disks/{args.args['diskName']}", "compute"
        else:
            raise AssertionError(f"unexpected data source {args.token}")
        reply = self._request("GET", path, api)
        if reply.status_code != 200:
            raise arm_failure(args.token, path, f"{reply.status_code} {reply.reason}", reply.json()["error"]["code"])
        body = reply.json()
        return {**{k: v for k, v in body.items() if k != "properties"}, **body.get("properties", {})}  # SDK shape

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        key, inputs = (args.typ, args.name), dict(args.inputs)
        if args.typ == GROUP:
            path, api, body = f"{SUB}/resourceGroups/{inputs['resourceGroupName']}", "resources", {}
        elif args.typ == DISK:
            path, api = (f"{SUB}/resourceGroups/{inputs['resourceGroupName']}/providers/Microsoft.Compute/disks/"
                         f"{inputs.get('diskName', args.name + '1a2b3c4d')}"), "compute"
            body = {"sku": inputs["sku"], "properties": {k: inputs[k] for k in ("diskSizeGB", "creationData")
                                                         if k in inputs}}
        else:
            return f"{args.name}-id", inputs
        if key in self.stack:  # in the stack already (an import of the same id is then no import): an update
            assert args.resource_id in (None, "", self.stack[key]), "an import would replace a resource of the stack"
            path = self.stack[key]
        elif args.resource_id:  # import_: azure-native reads it, and it is the stack's
            assert self._request("GET", args.resource_id, api).status_code == 200
            self.imported.append(args.resource_id)
            path = args.resource_id
        else:  # azure-native's Create: never over an existing resource
            if self._request("GET", path, api).status_code != 404:
                raise RuntimeError(f"cannot create already existing resource '{path}'")
            self._request("PUT", path, api, {**body, "location": inputs["location"], "tags": inputs["tags"]})
            self.created.append(path)
        self.stack[key] = path
        return path, {**inputs, "id": path, "name": path.rsplit("/", 1)[1]}

    def destroy(self, registrations: dict[str, Any]) -> None:
        """`pulumi destroy`: each resource deleted, disks before their group, but the retained ones, only dropped."""
        for (kind, name), path in sorted(self.stack.items(), key=lambda item: item[0][0] == GROUP):
            if not retained(registrations[f"{kind}::{name}"]):
                self._request("DELETE", path, "compute" if kind == DISK else "resources")
        self.stack.clear()


def up(provider: ArmProvider, volumes: list[spec.Volume]) -> dict[str, Any]:
    """Run the storage component as `up` runs the program, under ``provider``; the (LUN, disk id) the head takes."""
    pulumi.runtime.set_mocks(provider, project="cloud-hpc-toolkit", stack="test", preview=False)
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        storage = AzureStorage(NAME, AzureStorageArgs(storage=spec.Storage(volumes=volumes),
                                                      resource_group_name="hpc-rg", location=REGION,
                                                      subnet_id="unused", tags=TAGS))
        return pulumi.Output.from_input({"data_disks": storage.data_disks, "ids": storage.disk_ids}
                                        ).apply(seen.update)

    program()
    return seen


VOLUMES = [spec.Volume(name="keep", size_gb=256, mount="/keep", type="Premium_LRS", retain=True),
           spec.Volume(name="scratch", size_gb=64, mount="/scratch", type="Premium_LRS")]


def test_a_retained_disk_is_found_in_its_kept_group_and_attached_again_by_the_next_up(
        arm: FakeArm, azure_session, registrations, monkeypatch: pytest.MonkeyPatch):
    provider = ArmProvider(arm)
    first = up(provider, VOLUMES)
    keep = first["ids"]["keep"]
    assert keep == f"{KEPT_GROUP}/providers/Microsoft.Compute/disks/{NAME}-keep" and provider.imported == []
    assert first["data_disks"] == [(0, keep), (1, first["ids"]["scratch"])]  # what the head VM attaches, by LUN

    again = up(provider, VOLUMES)  # an up of the live environment: in the stack already, nothing made or imported
    assert again == first and len(provider.created) == 3 and provider.imported == []

    provider.destroy(registrations)
    assert arm.get(keep) is not None and arm.get(KEPT_GROUP) is not None
    assert arm.get(first["ids"]["scratch"]) is None
    contract = Outputs.model_validate({
        "target": "azure", "name": NAME, "region": REGION, "ssh_user": "azureuser", "ssh_private_key": "~/.ssh/id",
        "azure": {"subscription_id": SUBSCRIPTION, "resource_group": "hpc-rg"},
        "volumes": [{"name": "keep", "node": "head", "mount": "/keep", "volume_id": keep, "retain": True}]})
    monkeypatch.setattr("targets.azure.session.for_scope", lambda scope: azure_session)
    found = BACKEND.leftovers(Record(name=NAME, target="azure"), contract)
    assert found is not None and found.left == [] and found.kept == {"retained volumes": [keep]}

    second = up(provider, VOLUMES)
    assert second["ids"]["keep"] == keep and second["data_disks"][0] == (0, keep)  # the same disk, on LUN 0
    assert provider.imported == [KEPT_GROUP, keep]
    assert registrations[f"{DISK}::{NAME}-keep"].importId == keep and retained(registrations[f"{DISK}::{NAME}-keep"])

    provider.destroy(registrations)
    assert arm.get(keep) is not None and arm.get(KEPT_GROUP) is not None


def test_a_lookup_azure_refuses_stops_the_program_rather_than_making_a_new_disk(arm: FakeArm):
    arm.route("GET", re.escape(KEPT_GROUP), lambda request, match: Reply(
        403, {"error": {"code": "AuthorizationFailed", "message": "no read access"}}))
    provider = ArmProvider(arm)
    with pytest.raises(Exception, match="RESPONSE 403: 403 Forbidden\nERROR CODE: AuthorizationFailed"):
        up(provider, VOLUMES[:1])
    assert provider.created == []


def test_an_existing_disk_is_attached_and_destroy_leaves_it(arm: FakeArm, registrations):
    existing = f"{SUB}/resourceGroups/archive/providers/Microsoft.Compute/disks/archive"
    arm.put(existing, {"location": REGION, "properties": {"diskSizeGB": 32, "creationData": {"createOption": "Empty"}}})
    provider = ArmProvider(arm)
    seen = up(provider, [spec.Volume(name="archive", mount="/archive", from_=spec.VolumeSource(disk_id=existing))])
    assert seen["data_disks"] == [(0, existing)] and provider.created == []
    provider.destroy(registrations)
    assert arm.get(existing) is not None

