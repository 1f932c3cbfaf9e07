"""The final snapshots destroy keeps, found against a real moto_server by the tags the provider copies onto them."""

from __future__ import annotations

from spec.outputs import ENVIRONMENT_TAG, VOLUME_TAG
from targets.aws.final_snapshots import final_snapshots
from tests.aws import moto_fixture

moto, aws_session = moto_fixture.moto, moto_fixture.aws_session  # the moto_server fixtures, by name


def snapshot(session: moto_fixture.MotoSession, environment: str, volume: str) -> str:
    ec2 = session.client("ec2")
    volume_id = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    tags = [{"Key": ENVIRONMENT_TAG, "Value": environment}, {"Key": VOLUME_TAG, "Value": volume}]
    return ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}]
                               )["SnapshotId"]


def test_only_the_snapshots_of_the_volumes_that_asked_for_one_in_this_environment(aws_session):
    first, second = snapshot(aws_session, "hpc", "scratch"), snapshot(aws_session, "hpc", "scratch")  # two lives
    snapshot(aws_session, "hpc", "tmp")
    snapshot(aws_session, "other", "scratch")
    assert final_snapshots(aws_session, "hpc", ["scratch"]) == sorted([first, second])
    assert final_snapshots(aws_session, "hpc", []) == []
