"""A virtual machine's life on the local Resource Manager, as Microsoft.Compute lives it, for the Azure head's power
program and destroy's clean-up: routes added to a ``FakeArm``.

- ``PUT .../virtualMachines/{name}`` (api-version one Microsoft.Compute documents, body shape checked by
  ``vm_problem``) answers 201 with an ``Azure-AsyncOperation`` URL and the VM ``Creating``. Its first poll says
  ``InProgress``; the next ``Succeeded`` (the VM ``Succeeded``, with the NIC its configuration asked for and a private
  address), or ``Failed`` with an allocation error for a (size, priority) the test made fail, the VM left ``Failed``,
  as Azure leaves it. A size in ``unavailable`` is refused at once, 409 ``SkuNotAvailable``, nothing stored.
- ``DELETE`` answers 202 with ``Azure-AsyncOperation`` and ``Location`` (or ``Location`` alone), the VM
  ``Deleting`` until a poll of either finds it gone (with its NIC: delete option Delete); a VM that is not there, 204.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from tests.azure.fake_arm import FakeArm, Reply, Request, not_found

# Microsoft.Compute's documented api-versions (the REST reference; azure-native 3.x's list for virtualMachines)
# and the pinned azure-mgmt-compute's (2026-04-01), generated from the same REST specification
COMPUTE_VERSIONS = {"2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01",
                    "2024-11-01", "2025-04-01", "2025-11-01", "2026-03-01", "2026-04-01"}
VM = (r"(?P<vm>/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<group>[^/]+)"
      r"/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+))")
OPERATION = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/[^/]+/operations/(?P<id>[^/]+)"
PRIORITIES = ("Regular", "Spot")


@dataclass
class Operation:
    path: str
    kind: str  # "create" or "delete"
    error: str | None = None  # the allocation error a create ends with
    polls: int = 0


@dataclass
class FakeCompute:
    """The routes, and what the test makes fail: ``failing`` (size, priority) pairs end Failed with ``code``;
    sizes in ``unavailable`` are refused at once."""

    arm: FakeArm
    failing: set[tuple[str, str]] = field(default_factory=set)
    unavailable: set[str] = field(default_factory=set)
    code: str = "AllocationFailed"
    async_operation: bool = True  # False: a DELETE answers with Location alone, as some ARM operations do
    retry_after: str = "1"  # seconds between polls it asks (whole seconds, as ARM sends them; the SDK waits its
    # default 30 s when this is 0)
    operations: dict[str, Operation] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _addresses: itertools.count = field(default_factory=lambda: itertools.count(10))

    def __post_init__(self) -> None:
        self.arm.route("PUT", VM, self._put)
        self.arm.route("DELETE", VM, self._delete)
        self.arm.route("GET", OPERATION, self._poll)
        self.arm.route("GET", OPERATION + "/location", self._poll_location)

    def vm_puts(self) -> list[Request]:
        """The VM creations asked for, in order."""
        return [r for r in self.arm.requests if r.method == "PUT" and re.fullmatch(VM, r.path, re.I)]

    def _operation(self, request: Request, match: re.Match[str], kind: str, error: str | None = None) -> dict[str, str]:
        ident = f"op-{next(self._ids)}"
        self.operations[ident] = Operation(match["vm"], kind, error)
        base = (f"{self.arm.url}/subscriptions/{match['sub']}/providers/Microsoft.Compute/locations/westeurope"
                f"/operations/{ident}")
        headers = {"Azure-AsyncOperation": f"{base}?api-version={request.query['api-version']}",
                   "Retry-After": self.retry_after}
        if kind == "delete":
            headers["Location"] = f"{base}/location?api-version={request.query['api-version']}"
            if not self.async_operation:
                del headers["Azure-AsyncOperation"]
        return headers

    def _put(self, request: Request, match: re.Match[str]) -> Reply:
        problem = _version_problem(request) or vm_problem(request.body, match["name"])
        if problem:
            return Reply(400, {"error": {"code": "InvalidParameter", "message": problem}})
        properties = request.body["properties"]
        size, priority = properties["hardwareProfile"]["vmSize"], properties.get("priority", "Regular")
        if size in self.unavailable:
            return Reply(409, {"error": {"code": "SkuNotAvailable", "message": (
                f"The requested VM size {size} is currently not available in location 'westeurope'.")}})
        if self.arm.get(match["vm"]) is not None:
            return Reply(409, {"error": {"code": "OperationNotAllowed", "message": "the fake creates, never updates"}})
        error = self.code if (size, priority) in self.failing else None
        vm = self.arm.put(match["vm"], request.body)
        vm["properties"]["provisioningState"] = "Creating"
        return Reply(201, vm, self._operation(request, match, "create", error))

    def _delete(self, request: Request, match: re.Match[str]) -> Reply:
        problem = _version_problem(request)
        if problem:
            return Reply(400, {"error": {"code": "InvalidParameter", "message": problem}})
        vm = self.arm.get(match["vm"])
        if vm is None:
            return Reply(204)
        vm["properties"]["provisioningState"] = "Deleting"
        return Reply(202, None, self._operation(request, match, "delete"))

    def _poll(self, request: Request, match: re.Match[str]) -> Reply:
        operation = self.operations.get(match["id"])
        if _version_problem(request) or operation is None:
            return not_found(request.path)
        status = self._advance(operation)
        body: dict[str, Any] = {"name": match["id"], "status": status, "startTime": "2026-11-28T07:00:00Z"}
        if status == "Failed":
            body["error"] = {"code": operation.error, "message": (
                "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.")}
        return Reply(200, body, {"Retry-After": self.retry_after})

    def _poll_location(self, request: Request, match: re.Match[str]) -> Reply:
        operation = self.operations.get(match["id"])
        if _version_problem(request) or operation is None:
            return not_found(request.path)
        status = 202 if self._advance(operation) == "InProgress" else 200
        return Reply(status, None, {"Retry-After": self.retry_after})

    def _advance(self, operation: Operation) -> str:
        operation.polls += 1
        vm = self.arm.get(operation.path)
        if operation.polls == 1 and vm is not None:
            return "InProgress"
        if operation.kind == "delete":
            if vm is not None:
                for nic in vm["properties"].get("networkProfile", {}).get("networkInterfaces", []):
                    self.arm.delete(nic["id"])
                self.arm.delete(operation.path)
            return "Succeeded"
        if vm is None:
            return "Canceled"
        if operation.error:
            vm["properties"]["provisioningState"] = "Failed"
            return "Failed"
        if vm["properties"]["provisioningState"] == "Creating":
            self._made(vm)
        return "Succeeded"

    def _made(self, vm: dict[str, Any]) -> None:
        """The VM running, with the NIC its configuration asked for (named as Azure names it, VM then config)."""
        [configuration] = vm["properties"]["networkProfile"]["networkInterfaceConfigurations"]
        group = vm["id"].split("/providers/")[0]
        nic = f"{group}/providers/Microsoft.Network/networkInterfaces/{vm['name']}-{configuration['name']}"
        subnet = configuration["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]
        self.arm.put(nic, {"location": vm["location"], "tags": vm.get("tags", {}), "properties": {
            "primary": True, "virtualMachine": {"id": vm["id"]},
            "enableAcceleratedNetworking": configuration["properties"]["enableAcceleratedNetworking"],
            "ipConfigurations": [{"name": "cluster", "properties": {
                "primary": True, "privateIPAddress": f"10.0.1.{next(self._addresses)}", "subnet": {"id": subnet}}}]}})
        vm["properties"]["provisioningState"] = "Succeeded"
        vm["properties"]["networkProfile"]["networkInterfaces"] = [
            {"id": nic, "properties": {"primary": True, "deleteOption": "Delete"}}]


def _version_problem(request: Request) -> str | None:
    version = request.query.get("api-version")
    return None if version in COMPUTE_VERSIONS else f"api-version {version!r} is not one Microsoft.Compute serves"


def vm_problem(body: dict[str, Any], name: str) -> str | None:
    """What ARM would refuse in a VM's PUT body (the members this fake relies on), or None."""
    properties = body.get("properties") or {}
    os_profile = properties.get("osProfile") or {}
    network = properties.get("networkProfile") or {}
    configurations = network.get("networkInterfaceConfigurations") or []
    if not body.get("location") or not (properties.get("hardwareProfile") or {}).get("vmSize"):
        return "a VM needs location and properties.hardwareProfile.vmSize"
    if not (properties.get("storageProfile") or {}).get("imageReference"):
        return "a VM made from an image needs properties.storageProfile.imageReference"
    if not os_profile.get("computerName") or not os_profile.get("adminUsername"):
        return "properties.osProfile needs computerName and adminUsername"
    if os_profile.get("computerName") != name:
        return f"the fake expects a VM named for its host: computerName {os_profile.get('computerName')!r} != {name!r}"
    if configurations and not network.get("networkApiVersion"):
        return "networkInterfaceConfigurations need properties.networkProfile.networkApiVersion"
    if len(configurations) != 1 or not configurations[0].get("name"):
        return "the fake makes VMs with exactly one named network interface configuration"
    subnet = configurations[0].get("properties", {}).get("ipConfigurations", [{}])[0].get("properties", {})
    if not (subnet.get("subnet") or {}).get("id"):
        return "the network interface configuration's ipConfigurations[0] needs properties.subnet.id"
    priority = properties.get("priority", "Regular")
    if priority not in PRIORITIES or (priority == "Spot") != ("evictionPolicy" in properties):
        return "priority is Regular or Spot, and evictionPolicy goes with Spot only"
    return None
