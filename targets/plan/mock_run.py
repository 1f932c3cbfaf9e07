"""Run a Pulumi program offline and record every resource it declares, with its inputs as the provider
would receive them (camelCase wire names, each secret redacted where it sits), and where it sits in the
component tree.

The program runs under ``pulumi.runtime.set_mocks`` inside a copy of the current ``contextvars`` context.
The Pulumi runtime keeps its settings and root stack in context variables, so the mocks set here vanish
when :func:`evaluate` returns and a caller's own mocks (a test fixture's) are as they were. What is not a
context variable is untouched: the thread's asyncio event loop is reused, as ``pulumi.runtime.test`` does.
"""

from __future__ import annotations

import base64
import contextvars
import json
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor

ACCOUNT = "123456789012"  # a placeholder: the plan knows no real account
PLANNED_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # ... nor a real Azure subscription
SECRET = "[secret]"
# A well-formed ed25519 public key line (32 bytes of placeholder), for code that parses host keys.
_KEY_BLOB = b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + b"planned".ljust(32, b"0")
PLANNED_PUBLIC_KEY = "ssh-ed25519 " + base64.b64encode(_KEY_BLOB).decode()
PLANNED_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nplanned\n-----END OPENSSH PRIVATE KEY-----\n"
PLANNED_PUBLIC_IP = "192.0.2.30"  # TEST-NET-1, for an Azure public IP's ipAddress
# An access token of a signed-in user (a JWT whose claims hold ``scp``): the plan assumes a user deploys.
PLANNED_TOKEN = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                         for part in ({"typ": "JWT"}, {"scp": "user_impersonation", "oid": "plan"})) + ".planned"
# The Azure name of a resource is its *Name input (azure-native's default is the logical name plus a suffix).
AZURE_NAME_INPUTS = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:network:VirtualNetwork": "virtualNetworkName",
    "azure-native:network:Subnet": "subnetName",
    "azure-native:compute:VirtualMachine": "vmName",
    "azure-native:compute:VirtualMachineScaleSet": "vmScaleSetName",
    "azure-native:compute:Disk": "diskName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:FileShare": "shareName",
    "azure-native:containerinstance:ContainerGroup": "containerGroupName",
    "azure-native:hdinsight:Cluster": "clusterName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:keyvault:Secret": "secretName",
}
# Pulumi's wire protocol marks a secret as an object {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


@dataclass(frozen=True)
class PlannedResource:
    type: str
    name: str
    urn: str
    parent: str  # the parent's URN (the stack's for top-level resources)
    custom: bool  # False for component resources
    id: str
    inputs: dict[str, Any]


class UnmockedCall(LookupError):
    """The program asked a data source the offline plan has no answer for (an empty answer would silently
    drop inputs such as a launch template's image id)."""


class ProviderError(grpc.RpcError):
    """A data source's failure as the engine hands it to the program: a gRPC error carrying the provider's message,
    which the program may catch (any other exception raised by a mock ends the program)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._message = message

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return self._message


def arm_failure(token: str, resource_id: str, status: str, code: str) -> ProviderError:
    """azure-native's getter failing on Azure Resource Manager's answer ``status`` ("404 Not Found") with error
    ``code``, worded as the engine and azure-native word it (``request failed <id>: `` and azcore's error text)."""
    rule = "-" * 80
    return ProviderError(f"invocation of {token} returned an error: request failed {resource_id}: "
                         f"GET https://management.azure.com{resource_id}\n{rule}\nRESPONSE {status.split()[0]}: "
                         f"{status}\nERROR CODE: {code}\n{rule}\n")


def arm_not_found(token: str, resource_id: str, code: str = "ResourceNotFound") -> ProviderError:
    return arm_failure(token, resource_id, "404 Not Found", code)


class PlanMocks(pulumi.runtime.Mocks):
    """Answers for the data sources the toolkit's programs call, and the attributes providers compute."""

    def __init__(self, region: str, subnets: Mapping[str, Mapping[str, Any]]) -> None:
        self.region = region
        self.subnets = subnets

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        region, zones = self.region, [f"{self.region}{letter}" for letter in "abc"]
        if args.token == "aws:ec2/getAmi:getAmi":
            architecture = next((f["values"][0] for f in args.args.get("filters", [])
                                 if f.get("name") == "architecture"), "x86_64")
            return {"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0", "architecture": architecture,
                    "name": "planned-ami", "rootDeviceName": "/dev/xvda"}
        if args.token == "aws:ssm/getParameter:getParameter":  # a public parameter naming an image (Ubuntu, GPU)
            return {"id": args.args["name"], "name": args.args["name"], "type": "String",
                    "value": "ami-0123456789abcdef0", "version": 1}
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"id": region, "names": zones, "zoneIds": [f"zone-{zone}" for zone in zones]}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"id": ACCOUNT, "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/plan", "userId": "PLAN"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com",
                    "description": region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
        if args.token == "azure-native:authorization:getClientConfig":
            return {"subscriptionId": PLANNED_SUBSCRIPTION, "tenantId": PLANNED_SUBSCRIPTION, "clientId": "plan",
                    "objectId": "plan"}
        if args.token == "azure-native:authorization:getClientToken":
            return {"token": PLANNED_TOKEN}
        if args.token == "azure-native:operationalinsights:getSharedKeys":
            return {"primarySharedKey": "planned-key", "secondarySharedKey": "planned-key"}
        if args.token == "azure-native:resources:getResourceGroup":  # offline, no kept group (so no kept disk)
            group = f"/subscriptions/{PLANNED_SUBSCRIPTION}/resourceGroups/{args.args['resourceGroupName']}"
            raise arm_not_found(args.token, group, "ResourceGroupNotFound")
        if args.token == "azure-native:compute:getDisk":  # an existing disk the spec names, in the plan's region
            disk = (f"/subscriptions/{PLANNED_SUBSCRIPTION}/resourceGroups/{args.args['resourceGroupName']}"
                    f"/providers/Microsoft.Compute/disks/{args.args['diskName']}")
            return {"id": disk, "name": args.args["diskName"], "location": region, "diskSizeGB": 0, "tags": {},
                    "creationData": {"createOption": "Empty"}}
        if args.token == "aws:ebs/getEbsVolumes:getEbsVolumes":
            return {"id": region, "ids": []}  # offline, no volume a destroy kept is known: the plan shows a new one
        if args.token == "aws:ebs/getVolume:getVolume":  # an existing volume the spec names, in the head's zone
            volume_id = args.args["filters"][0]["values"][0]
            return {"id": volume_id, "volumeId": volume_id, "availabilityZone": zones[0], "encrypted": True,
                    "size": 0, "snapshotId": "", "volumeType": "planned"}
        if args.token == "aws:ec2/getSubnet:getSubnet":
            subnet_id = args.args.get("id", "subnet-planned")
            zone = zones[zlib.crc32(subnet_id.encode()) % len(zones)]
            return {"id": subnet_id, "vpcId": "vpc-planned", "availabilityZone": zone, "cidrBlock": "10.0.0.0/24",
                    "mapPublicIpOnLaunch": False, **self.subnets.get(subnet_id, {})}
        raise UnmockedCall(f"the offline plan has no answer for data source {args.token}; "
                           "add one to targets/plan/mock_run.py")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id = f"{args.name}-id"
        return resource_id, {**args.inputs, **self._computed(args.typ, args.name, resource_id, args.inputs)}

    def _computed(self, type_token: str, name: str, resource_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes a provider would compute, so outputs derived from them resolve to something."""
        out: dict[str, Any] = {"id": resource_id, "arn": f"arn:aws:planned:{self.region}:{ACCOUNT}:{name}",
                               "name": inputs.get(AZURE_NAME_INPUTS.get(type_token, "name"), name)}
        if type_token == "azure-native:network:PublicIPAddress":
            out["ipAddress"] = PLANNED_PUBLIC_IP
        elif type_token == "azure-native:operationalinsights:Workspace":
            out["customerId"] = "00000000-0000-0000-0000-00000000000a"
        elif type_token == "azure-native:managedidentity:UserAssignedIdentity":
            out.update(principalId=f"principal-of-{name}", clientId=f"client-of-{name}")
        identities = (inputs.get("identity") or {}).get("userAssignedIdentities")
        if type_token.startswith("azure-native:") and isinstance(identities, list):
            # inputs list the identities' ids; the provider answers a map keyed by id
            out["identity"] = {**inputs["identity"], "userAssignedIdentities": {i: {} for i in identities}}
        elif type_token == "aws:ec2/instance:Instance":
            out.update(privateIp="10.0.0.10", publicIp="192.0.2.10", privateDns="ip-10-0-0-10.ec2.internal",
                       availabilityZone=inputs.get("availabilityZone", f"{self.region}a"))
        elif type_token == "aws:ec2/networkInterface:NetworkInterface":
            out.update(privateIp="10.0.0.10", privateIps=["10.0.0.10"])
        elif type_token == "aws:ec2/launchTemplate:LaunchTemplate":
            out.update(latestVersion=1, defaultVersion=1)
        elif type_token == "aws:ec2/eip:Eip":
            out.update(publicIp="192.0.2.20", allocationId=resource_id)
        elif type_token == "aws:efs/fileSystem:FileSystem":
            out["dnsName"] = f"{resource_id}.efs.{self.region}.amazonaws.com"
        elif type_token == "aws:ecr/repository:Repository":
            out["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{out['name']}"
        elif type_token in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            out["bucket"] = inputs.get("bucket", f"{name}-bucket")
        elif type_token == "tls:index/privateKey:PrivateKey":
            out.update(publicKeyOpenssh=PLANNED_PUBLIC_KEY + "\n", privateKeyOpenssh=PLANNED_PRIVATE_KEY,
                       privateKeyPem=PLANNED_PRIVATE_KEY, publicKeyFingerprintSha256="SHA256:planned")
        elif type_token == "random:index/randomBytes:RandomBytes":
            out.update(base64="cGxhbm5lZA==", hex="706c616e6e6564")
        elif type_token == "random:index/randomPassword:RandomPassword":
            out["result"] = "planned-password"
        return out


class _RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping each registration's URN, parent and (redacted) inputs."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.planned: list[PlannedResource] = []
        self._lock = threading.Lock()  # registrations arrive on the runtime's worker threads

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = redact(rpc.deserialize_properties(secrets_in_place(request.object)))
            with self._lock:
                self.planned.append(PlannedResource(request.type, request.name, response.urn, request.parent,
                                                    bool(request.custom), response.id, inputs))
        return response


def secrets_in_place(struct: struct_pb2.Struct) -> struct_pb2.Struct:
    """``struct`` with each secret replaced by ``"[secret]"`` where it sits. Pulumi's own deserialisation
    hoists a nested secret up to the top-level input, which would hide a scale set's whole VM profile
    (sizes and disks included) because its custom data is secret."""
    result = struct_pb2.Struct()
    for key, value in struct.fields.items():
        result.fields[key].CopyFrom(_secret_in_place(value))
    return result


def _secret_in_place(value: struct_pb2.Value) -> struct_pb2.Value:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        fields = value.struct_value.fields
        if SIG_KEY in fields and fields[SIG_KEY].string_value == SECRET_SIG:
            return struct_pb2.Value(string_value=SECRET)
        return struct_pb2.Value(struct_value=secrets_in_place(value.struct_value))
    if kind == "list_value":
        return struct_pb2.Value(list_value=struct_pb2.ListValue(
            values=[_secret_in_place(item) for item in value.list_value.values]))
    return value


def redact(value: Any) -> Any:
    """Values JSON cannot hold (assets, resource references) become their type name."""
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return f"[{type(value).__name__}]"


def evaluate(program: Callable[[], object], *, project: str, stack: str, region: str = "us-east-1",
             subnets: Mapping[str, Mapping[str, Any]] | None = None) -> list[PlannedResource]:
    """Every resource ``program`` declares, parents first, once every registration has completed.

    ``subnets`` answers ``getSubnet`` for existing subnets (``vpcId``, ``availabilityZone``); other ids get
    a placeholder VPC and a zone derived from the id."""
    return contextvars.copy_context().run(_evaluate, program, project, stack, region, subnets or {})


def _evaluate(program: Callable[[], object], project: str, stack: str, region: str,
              subnets: Mapping[str, Mapping[str, Any]]) -> list[PlannedResource]:
    settings.ROOT.set(None)  # a root stack of this run's own, not one left by earlier mocks
    mocks = PlanMocks(region, subnets)
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.test(program)()  # waits for the program's outputs and every registration
    return _tree_order(monitor.planned)


def _tree_order(resources: list[PlannedResource]) -> list[PlannedResource]:
    """Parents before children, then by URN: registrations finish on worker threads in no fixed order."""
    by_urn = {resource.urn: resource for resource in resources}

    def depth(resource: PlannedResource) -> int:
        parent = by_urn.get(resource.parent)
        return 0 if parent is None else 1 + depth(parent)

    return sorted(resources, key=lambda resource: (depth(resource), resource.urn))
