"""Compute nodes of a scaling fleet, found by tag when a task runs (they come and go with the scaling group)."""

from __future__ import annotations

import time
from typing import Any

import boto3

from spec.outputs import ComputeFleet, Node
from targets.aws.errors import AwsError, step


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
            raise AwsError(f"waiting for compute nodes: {len(nodes)} of {fleet.expected} instances tagged "
                           f"{fleet.tag_key}={fleet.tag_value} are running in {fleet.region} after {timeout:g} s; "
                           "look at the scaling group's activity history (capacity, quotas, launch errors) "
                           "or wait longer with a larger timeout")
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def _running(ec2: Any, fleet: ComputeFleet) -> list[Node]:
    filters = [{"Name": f"tag:{fleet.tag_key}", "Values": [fleet.tag_value]},
               {"Name": "instance-state-name", "Values": ["running"]}]
    nodes = []
    with step(f"listing the compute nodes tagged {fleet.tag_key}={fleet.tag_value} in {fleet.region}",
              "check the AWS credentials and that they allow ec2:DescribeInstances"):
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    name = (instance.get("PrivateDnsName") or instance["InstanceId"]).split(".")[0]
                    nodes.append(Node(name=name, address=instance["PrivateIpAddress"], host_key=fleet.host_key))
    return sorted(nodes, key=lambda node: node.name)
