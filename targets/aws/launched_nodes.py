"""The compute instances an AWS head launched itself (Slurm's resume program, ``components/boot/ec2_power.py``):
Pulumi never knew them, so destroy terminates them first, else their interfaces keep the security groups, subnets
and VPC Pulumi is about to delete. They are the instances tagged with the environment and with a ``chpc:node``, in
the stack's VPC when the contract names it."""

from __future__ import annotations

import boto3

from spec.outputs import ENVIRONMENT_TAG, NODE_TAG
from targets.aws.errors import step

NOT_GONE = ["pending", "running", "stopping", "stopped"]
BATCH = 1000  # instance ids per TerminateInstances request


def launched_nodes(session: boto3.session.Session, environment: str, vpc_id: str | None) -> list[str]:
    """The ids of ``environment``'s head-launched instances not terminated yet."""
    filters = [{"Name": f"tag:{ENVIRONMENT_TAG}", "Values": [environment]}, {"Name": "tag-key", "Values": [NODE_TAG]},
               {"Name": "instance-state-name", "Values": NOT_GONE}]
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    with step(f"listing the compute instances {environment}'s head launched",
              "check the credentials allow ec2:DescribeInstances"):
        pages = session.client("ec2").get_paginator("describe_instances").paginate(Filters=filters)
        return sorted(i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"])


def terminate_launched(session: boto3.session.Session, environment: str, vpc_id: str | None,
                       timeout: float = 600.0) -> list[str]:
    """Terminate them and wait until they are gone (at most ``timeout`` seconds); returns their ids."""
    ids = launched_nodes(session, environment, vpc_id)
    if not ids:
        return []
    ec2 = session.client("ec2")
    with step(f"terminating {len(ids)} compute instance(s) {environment}'s head launched",
              "check the credentials allow ec2:TerminateInstances, terminate them in the console, then destroy again"):
        for start in range(0, len(ids), BATCH):
            ec2.terminate_instances(InstanceIds=ids[start:start + BATCH])
        delay = 5
        for start in range(0, len(ids), BATCH):
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids[start:start + BATCH],
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout // delay))})
    return ids
