"""The final snapshots destroy leaves on purpose: the provider snapshots a volume with ``final_snapshot`` as it
deletes it and copies the volume's tags (default tags included) onto the snapshot, so they are found by the
environment's and the volume's tags, among the account's own snapshots."""

from __future__ import annotations

from collections.abc import Sequence

import boto3

from spec.outputs import ENVIRONMENT_TAG, VOLUME_TAG
from targets.aws.errors import step


def final_snapshots(session: boto3.session.Session, environment: str, volumes: Sequence[str]) -> list[str]:
    """The ids of the snapshots of ``environment``'s ``volumes`` (names in its spec), each life's, oldest too."""
    if not volumes:
        return []
    filters = [{"Name": f"tag:{ENVIRONMENT_TAG}", "Values": [environment]},
               {"Name": f"tag:{VOLUME_TAG}", "Values": list(volumes)}]
    with step(f"looking for the final snapshots of {environment}'s volumes {', '.join(volumes)}",
              "check the credentials allow ec2:DescribeSnapshots, or look in the console"):
        pages = session.client("ec2").get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters)
        return sorted(snapshot["SnapshotId"] for page in pages for snapshot in page["Snapshots"])
