"""Pulumi mocks that record every resource's inputs, for asserting what a component declares.

Build the component inside a function decorated with ``@pulumi.runtime.test``: when that returns,
every registration has completed, so the recorder holds the whole program. Inputs carry Pulumi's wire
names (camelCase) and integers arrive as floats. An unknown data-source call fails the test instead
of answering ``{}`` (which would silently drop inputs such as a launch template's image id).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pulumi

FAKE_ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0Yk7xJ1c0nQ0Rb1kz8w6G8K0z5QmXo1b2c3d4e5f6"
# What the recorder answers for a tls private key (its OpenSSH form ends so) and for RandomBytes.base64: the
# tests look for them where secrets must not leak.
MOCK_PRIVATE = "fake\n-----END OPENSSH PRIVATE KEY-----"
MOCK_MUNGE = "bW9jay1tdW5nZS1rZXk="
# The user's key line a cluster is given (its public half only ever).
USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKeyUserKeyUserKeyUserKeyUserKeyUser user@laptop"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def access_token(claims: dict[str, Any]) -> str:
    """A JWT holding ``claims`` (unsigned: nothing here checks signatures), as Azure's sign-in hands them out."""
    return ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                    for part in ({"typ": "JWT", "alg": "RS256"}, claims)) + ".c2lnbmF0dXJl"


# A signed-in user's token (delegated: it carries the scopes consented to) and a service principal's (app-only).
USER_TOKEN = access_token({"aud": "https://management.azure.com/", "oid": "planned", "scp": "user_impersonation"})
APP_TOKEN = access_token({"aud": "https://management.azure.com/", "oid": "planned", "idtyp": "app", "roles": []})
CALLS: dict[str, dict[str, Any]] = {
    "aws:ec2/getAmi:getAmi": {"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0",
                              "architecture": "x86_64", "rootDeviceName": "/dev/xvda"},
    # a public parameter naming an image (the Ubuntu and Deep Learning AMIs' /aws/service/... parameters)
    "aws:ssm/getParameter:getParameter": {"id": "parameter", "name": "parameter", "type": "String",
                                          "value": "ami-0fedcba9876543210", "version": 1},
    "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": ZONES, "zoneIds": ["use1-az1", "use1-az2",
                                                                                        "use1-az3"]},
    "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": "123456789012",
                                                      "arn": "arn:aws:iam::123456789012:user/test",
                                                      "userId": "AIDTEST"},
    "aws:index/getRegion:getRegion": {"name": "us-east-1", "region": "us-east-1", "id": "us-east-1"},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:ebs/getEbsVolumes:getEbsVolumes": {"id": "us-east-1", "ids": []},  # no volume a destroy kept
    "azure-native:authorization:getClientConfig": {"subscriptionId": "00000000-0000-0000-0000-00000000aaaa",
                                                   "tenantId": "00000000-0000-0000-0000-00000000bbbb",
                                                   "clientId": "planned", "objectId": "planned"},
    "azure-native:authorization:getClientToken": {"token": USER_TOKEN},
    "azure-native:operationalinsights:getSharedKeys": {"primarySharedKey": "mock-workspace-key==",
                                                       "secondarySharedKey": "mock-second-key=="},
}

EXISTING_VPC = "vpc-0a1b2c3d"
# subnet id -> (its VPC, its zone), answered by SubnetMocks' getSubnet
SUBNETS = {
    "subnet-0000000a": (EXISTING_VPC, "us-east-1a"),
    "subnet-0000000b": (EXISTING_VPC, "us-east-1a"),
    "subnet-0000000c": (EXISTING_VPC, "us-east-1c"),
    "subnet-0000000d": (EXISTING_VPC, "us-east-1c"),
    "subnet-0000000e": ("vpc-99999999", "us-east-1b"),
}


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Recorded] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, dict[str, Any]] = {}  # a test's own answers, before CALLS

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", {**args.inputs, **computed(args.typ, args.name, dict(args.inputs))}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append((args.token, dict(args.args)))
        answer = self.answers.get(args.token, CALLS.get(args.token))
        if answer is None:
            raise AssertionError(f"unmocked data source {args.token}: add an answer to tests/aws/mocks.py")
        return answer

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> Recorded:
        found = self.of_type(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {[r.name for r in found]}"
        return found[0]


class SubnetMocks(RecordingMocks):
    """The recorder plus answers for ``aws.ec2.get_subnet`` (an existing VPC given by its subnets)."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:ec2/getSubnet:getSubnet":
            self.calls.append((args.token, dict(args.args)))
            vpc_id, zone = SUBNETS[args.args["id"]]
            return {"id": args.args["id"], "vpcId": vpc_id, "availabilityZone": zone}
        return super().call(args)


def computed(type_token: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Attributes the provider would compute, so outputs read through them are not empty."""
    out: dict[str, Any] = {"arn": f"arn:aws:mock:us-east-1:123456789012:{name}", "id": f"{name}-id"}
    out.setdefault("name", inputs.get("name", name))
    if type_token == "aws:ec2/instance:Instance":
        out.update(privateIp="10.0.1.10", publicIp="198.51.100.10", privateDns="ip-10-0-1-10.ec2.internal",
                   availabilityZone=inputs.get("availabilityZone", ZONES[0]))
    elif type_token == "aws:ec2/networkInterface:NetworkInterface":
        out.update(privateIp="10.0.0.10", privateIps=["10.0.0.10"])
    elif type_token == "aws:ec2/eip:Eip":
        out.update(publicIp="198.51.100.10", allocationId=f"{name}-id")
    elif type_token == "aws:efs/fileSystem:FileSystem":
        out["dnsName"] = f"{name}-id.efs.us-east-1.amazonaws.com"
    elif type_token == "tls:index/privateKey:PrivateKey":
        out.update(publicKeyOpenssh=FAKE_ED25519 + "\n",
                   privateKeyOpenssh=f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MOCK_PRIVATE}\n", privateKeyPem="fake")
    elif type_token == "random:index/randomBytes:RandomBytes":
        out.update(base64=MOCK_MUNGE, hex="6d6f636b")
    elif type_token == "aws:ecr/repository:Repository":
        out["repositoryUrl"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{inputs.get('name', name)}"
    elif type_token == "aws:s3/bucket:Bucket" or type_token == "aws:s3/bucketV2:BucketV2":
        out["bucket"] = inputs.get("bucket", f"{name}-bucket")
    return out


def assert_all_children_of(component_type: str, name: str) -> None:
    """Every resource the last program registered is the component itself or nested under it."""
    urns = list(pulumi.runtime.settings.get_monitor().resources)
    children = [u for u in urns if not u.endswith(f"{component_type}::{name}")]
    assert children and len(children) == len(urns) - 1, urns
    assert all(f"::{component_type}$" in u for u in children), children
