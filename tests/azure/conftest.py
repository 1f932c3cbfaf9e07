"""A fresh recording mock per test (``set_mocks`` is process-global, so never set it at import), answering
the attributes Azure computes that the components read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from targets.plan.mock_run import arm_not_found
from tests.aws.mocks import RecordingMocks
from tests.azure.arm_fixture import arm, arm_server, azure_session  # noqa: F401  (the local Resource Manager)

HEAD_PUBLIC_IP = "20.50.0.10"
GETTERS = ("azure-native:resources:getResourceGroup", "azure-native:compute:getDisk")
WORKSPACE_CUSTOMER_ID = "00000000-0000-0000-0000-00000000cccc"  # a Log Analytics workspace's id
# The Azure name each resource gets from its *Name input (the mock's default would be the logical name).
NAME_INPUTS = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:compute:VirtualMachineScaleSet": "vmScaleSetName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:FileShare": "shareName",
    "azure-native:storage:BlobContainer": "containerName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:keyvault:Secret": "secretName",
}


class AzureMocks(RecordingMocks):
    """The recorder, answering Azure's getters of a kept group or disk that no test seeded (``answers``) with the
    404 failure azure-native gives: nothing was kept."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token in GETTERS and args.token not in self.answers:
            self.calls.append((args.token, dict(args.args)))
            raise arm_not_found(args.token, "/subscriptions/0000/resourceGroups/" + args.args["resourceGroupName"])
        return super().call(args)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        inputs = dict(args.inputs)
        state["id"] = f"/subscriptions/0000/resourceGroups/rg/providers/{args.typ}/{args.name}"
        if args.typ in NAME_INPUTS and inputs.get(NAME_INPUTS[args.typ]):
            state["name"] = inputs[NAME_INPUTS[args.typ]]
        if args.typ == "azure-native:network:PublicIPAddress":
            state["ipAddress"] = HEAD_PUBLIC_IP
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state.update(principalId=f"principal-of-{args.name}", clientId=f"client-of-{args.name}")
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"Mock-{args.name}-Passw0rd!"
        if args.typ == "azure-native:operationalinsights:Workspace":
            state["customerId"] = WORKSPACE_CUSTOMER_ID
        identities = (inputs.get("identity") or {}).get("userAssignedIdentities")
        if isinstance(identities, list):  # inputs list the ids; the provider answers a map keyed by id
            state["identity"] = {**inputs["identity"], "userAssignedIdentities": {i: {} for i in identities}}
        return state["id"], state


@pytest.fixture
def mocks() -> Iterator[AzureMocks]:
    recorder = AzureMocks()
    pulumi.runtime.set_mocks(recorder, project="cloud-hpc-toolkit", stack="test", preview=False)
    yield recorder

