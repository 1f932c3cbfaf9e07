"""Compute nodes of a scaling fleet, found when a task runs (they come and go with the scaling group).

Only the stack's own instances count: those its Auto Scaling group launched (EC2 Auto Scaling tags each one
``aws:autoscaling:groupName``) in its VPC. The fleet tag alone holds the environment's name, which a dev and a prod
stack, a colleague's stack or another account's may share."""

from __future__ import annotations

import time
from typing import Any

import boto3

from spec.outputs import ComputeFleet, Node
from targets.aws.errors import AwsError, step

GROUP_TAG = "aws:autoscaling:groupName"


def compute_nodes(session: boto3.session.Session, fleet: ComputeFleet) -> list[Node]:
    """The fleet's running instances, named by their private DNS short name (``ip-10-0-1-23``, what Slurm
    calls them), sorted so every task sees the same order."""
    return _running(session.client("ec2", region_name=fleet.region), fleet)


def wait_for_nodes(session: boto3.session.Session, fleet: ComputeFleet, timeout: float,
                   poll: float = 5.0) -> list[Node]:
    """Wait until ``fleet.expected`` nodes run: a task right after ``up`` would otherwise see half a fleet."""
    ec2 = session.client("ec2", region_name=fleet.region)
    deadline = time.monotonic() + timeout
    while True:
        nodes = _running(ec2, fleet)
        if len(nodes) >= fleet.expected:
            return nodes
        if time.monotonic() >= deadline:
            raise AwsError(f"waiting for compute nodes: {len(nodes)} of {fleet.expected} instances {_scope(fleet)} "
                           f"are running in {fleet.region} after {timeout:g} s; look at the scaling group's activity "
                           "history (capacity, quotas, launch errors) or wait longer with a larger timeout")
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def _scope(fleet: ComputeFleet) -> str:
    """How the search is narrowed, for messages: the tag, then the group and the VPC where the contract has them."""
    where = f"tagged {fleet.tag_key}={fleet.tag_value}"
    if fleet.group:
        where += f" of Auto Scaling group {fleet.group}"
    return where + (f" in {fleet.vpc_id}" if fleet.vpc_id else "")


def _running(ec2: Any, fleet: ComputeFleet) -> list[Node]:
    filters = [{"Name": f"tag:{fleet.tag_key}", "Values": [fleet.tag_value]},
               {"Name": "instance-state-name", "Values": ["running"]}]
    if fleet.group:
        filters.append({"Name": f"tag:{GROUP_TAG}", "Values": [fleet.group]})
    if fleet.vpc_id:
        filters.append({"Name": "vpc-id", "Values": [fleet.vpc_id]})
    nodes = []
    with step(f"listing the compute nodes {_scope(fleet)} in {fleet.region}",
              "check the AWS credentials and that they allow ec2:DescribeInstances"):
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    name = (instance.get("PrivateDnsName") or instance["InstanceId"]).split(".")[0]
                    nodes.append(Node(name=name, address=instance["PrivateIpAddress"], host_key=fleet.host_key))
    return sorted(nodes, key=lambda node: node.name)
