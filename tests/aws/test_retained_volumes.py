"""A retained EBS volume comes back, against a real moto_server: the program's lookups run as the provider's data
sources do (``DescribeVolumes`` with the same filters), its resources are made, read (imported) and deleted in moto
as the provider's Create, Read and Delete do, and the stack's state is kept between runs as Pulumi's engine keeps it
(a resource already in the stack is not made again; destroy deletes what it holds but what is retained, which it
only drops). So a whole life is played: up, an up of the live environment, destroy, up again, destroy again.

What is not played: Pulumi's engine itself and the real provider (neither can run here), whose behaviour this
stand-in follows as documented (``retain_on_delete``, ``import_``, ``final_snapshot``, data source filters).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.aws.storage import Storage, StorageArgs
from spec import environment as spec
from spec.environment import Environment
from spec.outputs import ENVIRONMENT_TAG, Outputs
from stacks.slurm import head_volumes
from targets.aws.backend import BACKEND
from targets.backend import Record
from targets.plan.mock_run import ProviderError
from tests.aws import moto_fixture
from tests.pulumi_helpers import retained

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name

VOLUME, ATTACHMENT = "aws:ebs/volume:Volume", "aws:ec2/volumeAttachment:VolumeAttachment"
NAME, ZONE = "hpc", "us-east-1b"
TAGS = {ENVIRONMENT_TAG: NAME, "project": "chpc"}


class MotoProvider(pulumi.runtime.Mocks):
    """The AWS provider and the engine's state, played against moto: ``stack`` is what the stack holds between runs
    ((type, name) -> id), ``imported`` the ids read into it by ``import_``, ``created`` the volumes made."""

    def __init__(self, session: moto_fixture.MotoSession) -> None:
        self.ec2 = session.client("ec2")
        self.stack: dict[tuple[str, str], str] = {}
        self.created: list[str] = []
        self.imported: list[str] = []
        self.attachments: dict[str, dict[str, str]] = {}  # what DetachVolume is given for each

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        """aws_ebs_volumes and aws_ebs_volume: DescribeVolumes with the tags as ``tag:KEY`` filters and the filter
        blocks as given; the singular one fails on no match, as the provider's does."""
        filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in (args.args.get("tags") or {}).items()]
        filters += [{"Name": f["name"], "Values": list(f["values"])} for f in args.args.get("filters") or []]
        volumes = self.ec2.describe_volumes(Filters=filters)["Volumes"]
        if args.token == "aws:ebs/getEbsVolumes:getEbsVolumes":
            return {"id": "us-east-1", "ids": [volume["VolumeId"] for volume in volumes]}
        if args.token == "aws:ebs/getVolume:getVolume":
            if len(volumes) != 1:
                raise ProviderError("Your query returned no results. Please change your search criteria and try again.")
            [volume] = volumes
            return {"id": volume["VolumeId"], "volumeId": volume["VolumeId"], "size": volume["Size"],
                    "availabilityZone": volume["AvailabilityZone"], "encrypted": volume["Encrypted"],
                    "snapshotId": volume.get("SnapshotId", ""), "volumeType": volume["VolumeType"]}
        raise AssertionError(f"unexpected data source {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        key, inputs = (args.typ, args.name), dict(args.inputs)
        if args.resource_id:  # import_: the provider reads the resource, which then is the stack's
            self.ec2.describe_volumes(VolumeIds=[args.resource_id])
            self.imported.append(args.resource_id)
            ident = args.resource_id
        elif key in self.stack:  # already in the stack: an update, nothing made
            ident = self.stack[key]
        elif args.typ == VOLUME:
            ident = self.ec2.create_volume(
                AvailabilityZone=inputs["availabilityZone"], Size=int(inputs["size"]), VolumeType=inputs["type"],
                Encrypted=inputs["encrypted"],
                TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v}
                                                                       for k, v in inputs["tags"].items()]}],
            )["VolumeId"]
            self.created.append(ident)
        elif args.typ == ATTACHMENT:
            self.ec2.attach_volume(VolumeId=inputs["volumeId"], InstanceId=inputs["instanceId"],
                                   Device=inputs["deviceName"])
            ident = f"vai-{inputs['volumeId']}"
            self.attachments[ident] = {"VolumeId": inputs["volumeId"], "InstanceId": inputs["instanceId"],
                                       "Device": inputs["deviceName"]}
        else:
            ident = f"{args.name}-id"
        self.stack[key] = ident
        return ident, {**inputs, "id": ident}

    def destroy(self, registrations: dict[str, Any]) -> None:
        """`pulumi destroy`: the attachments first (they depend on the volumes), then each volume deleted (with a
        final snapshot carrying its tags when asked, as the provider takes it) unless retained, which is dropped."""
        for (kind, name), ident in sorted(self.stack.items(), key=lambda item: item[0][0] != ATTACHMENT):
            if kind == ATTACHMENT:
                self.ec2.detach_volume(**self.attachments.pop(ident))
            elif kind == VOLUME and not retained(registrations[f"{kind}::{name}"]):
                if registrations[f"{kind}::{name}"].object.fields["finalSnapshot"].bool_value:
                    tags = self.ec2.describe_volumes(VolumeIds=[ident])["Volumes"][0]["Tags"]
                    self.ec2.create_snapshot(VolumeId=ident,
                                             TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])
                self.ec2.delete_volume(VolumeId=ident)
        self.stack.clear()


def head(session: moto_fixture.MotoSession) -> str:
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
    return ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet)["Instances"][0]["InstanceId"]


ENV = Environment.model_validate({
    "name": NAME, "target": "aws", "region": "us-east-1", "ssh": {"allowed_cidr": "198.51.100.0/24"},
    "head": {"instance_type": "c5n.large"}, "compute": {"instance_type": "c5n.large"},
    "storage": {"volumes": [{"name": "keep", "size_gb": 20, "mount": "/keep", "retain": True},
                            {"name": "scratch", "size_gb": 10, "mount": "/scratch", "snapshot_on_destroy": True}]}})


def up(provider: MotoProvider, instance: str, storage: spec.Storage = ENV.storage) -> dict[str, str]:
    """Run the storage component as `up` runs the program, under ``provider``; the volume ids it attached."""
    pulumi.runtime.set_mocks(provider, project="cloud-hpc-toolkit", stack="test", preview=False)
    ids: dict[str, str] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        component = Storage(NAME, StorageArgs(storage=storage, vpc_id="vpc-1", subnet_ids=[],
                                              cluster_security_group_id="sg-1", head_availability_zone=ZONE,
                                              tags=TAGS))
        component.attach(instance)
        return pulumi.Output.all(**component.volume_ids).apply(ids.update)

    program()
    return ids


def attached(session: moto_fixture.MotoSession, volume_id: str) -> list[str]:
    volume = session.client("ec2").describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return [attachment["InstanceId"] for attachment in volume["Attachments"]]


def test_a_retained_volume_is_found_by_its_tags_and_attached_again_by_the_next_up(
        aws_session, registrations, monkeypatch: pytest.MonkeyPatch, moto):
    instance, provider = head(aws_session), MotoProvider(aws_session)
    first = up(provider, instance)
    assert sorted(provider.created) == sorted(first.values()) and provider.imported == []
    assert attached(aws_session, first["keep"]) == attached(aws_session, first["scratch"]) == [instance]

    again = up(provider, instance)  # an up of the live environment: the attached volume is not taken for a kept one
    assert again == first and sorted(provider.created) == sorted(first.values()) and provider.imported == []

    provider.destroy(registrations)
    ec2 = aws_session.client("ec2")
    ours = [{"Name": f"tag:{ENVIRONMENT_TAG}", "Values": [NAME]}]
    [kept] = ec2.describe_volumes(Filters=ours)["Volumes"]
    assert (kept["VolumeId"], kept["State"]) == (first["keep"], "available")
    [final] = ec2.describe_snapshots(OwnerIds=["self"], Filters=ours)["Snapshots"]  # moto's AMIs have their own
    assert final["VolumeId"] == first["scratch"]
    contract = Outputs.model_validate({"target": "aws", "name": NAME, "region": "us-east-1", "ssh_user": "ec2-user",
                                       "ssh_private_key": "~/.ssh/id", "volumes": head_volumes(ENV, first)})
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    found = BACKEND.leftovers(Record(name=NAME, target="aws", region="us-east-1"), contract)
    assert found is not None and found.left == []
    assert found.kept == {"retained volumes": [first["keep"]], "final snapshots": [final["SnapshotId"]]}

    second = up(provider, instance)
    assert second["keep"] == first["keep"] and provider.imported == [first["keep"]]  # the same volume, adopted
    assert second["scratch"] not in first.values()  # the other one is new: destroy deleted it
    assert registrations[f"{VOLUME}::{NAME}-keep"].importId == first["keep"]
    assert retained(registrations[f"{VOLUME}::{NAME}-keep"])  # and the next destroy keeps it again
    assert attached(aws_session, first["keep"]) == [instance]

    provider.destroy(registrations)
    assert ec2.describe_volumes(VolumeIds=[first["keep"]])["Volumes"][0]["State"] == "available"


def test_an_existing_volume_is_attached_and_destroy_leaves_it(aws_session, registrations):
    instance, provider = head(aws_session), MotoProvider(aws_session)
    ec2 = aws_session.client("ec2")
    existing = ec2.create_volume(AvailabilityZone=ZONE, Size=5, Encrypted=True)["VolumeId"]
    storage = spec.Storage(volumes=[spec.Volume(name="data", mount="/data",
                                                from_=spec.VolumeSource(volume_id=existing))])
    ids = up(provider, instance, storage)
    assert ids == {"data": existing} and provider.created == [] and attached(aws_session, existing) == [instance]
    provider.destroy(registrations)
    [volume] = ec2.describe_volumes(VolumeIds=[existing])["Volumes"]
    assert (volume["State"], volume["Attachments"]) == ("available", [])
