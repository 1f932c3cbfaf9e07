"""Compute nodes of a fleet, found when a task runs (they come and go with the work).

Only the stack's own instances count: those the head launched (tagged with the environment and their Slurm node,
``chpc:node``) in the stack's VPC. The environment's name alone, which a dev and a prod stack, a colleague's stack
or another account's may share, is not enough. A contract saved when an Auto Scaling group ran the nodes names its
group (EC2 Auto Scaling tags each instance ``aws:autoscaling:groupName``): its nodes are found there, as they were."""

from __future__ import annotations

import time
from typing import Any

import boto3

from spec.outputs import ENVIRONMENT_TAG, NODE_TAG, ComputeFleet, Node
from targets.aws.errors import AwsError, step

GROUP_TAG = "aws:autoscaling:groupName"


def compute_nodes(session: boto3.session.Session, fleet: ComputeFleet) -> list[Node]:
    """The fleet's running instances, named as Slurm calls them (their ``chpc:node`` tag; a scaling group's by
    their private DNS short name, ``ip-10-0-1-23``), sorted so every task sees the same order."""
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
            where = "the scaling group's activity history" if fleet.group else \
                "the head's /var/log/slurm/power.log (what EC2 answered each launch)"
            raise AwsError(f"waiting for compute nodes: {len(nodes)} of {fleet.expected} instances {_scope(fleet)} "
                           f"are running in {fleet.region} after {timeout:g} s; look at {where} (capacity, "
                           "quotas, launch errors) or wait longer with a larger timeout")
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def _scope(fleet: ComputeFleet) -> str:
    """How the search is narrowed, for messages: the tag, then the group and the VPC where the contract has them."""
    where = f"tagged {fleet.tag_key}={fleet.tag_value}"
    if fleet.group:
        where += f" of Auto Scaling group {fleet.group}"
    elif fleet.tag_key == ENVIRONMENT_TAG:
        where += f" and {NODE_TAG}"
    return where + (f" in {fleet.vpc_id}" if fleet.vpc_id else "")


def _running(ec2: Any, fleet: ComputeFleet) -> list[Node]:
    filters = [{"Name": f"tag:{fleet.tag_key}", "Values": [fleet.tag_value]},
               {"Name": "instance-state-name", "Values": ["running"]}]
    if fleet.group:
        filters.append({"Name": f"tag:{GROUP_TAG}", "Values": [fleet.group]})
    elif fleet.tag_key == ENVIRONMENT_TAG:  # every resource has it (the head too): the head-launched nodes only
        filters.append({"Name": "tag-key", "Values": [NODE_TAG]})
    if fleet.vpc_id:
        filters.append({"Name": "vpc-id", "Values": [fleet.vpc_id]})
    nodes = []
    with step(f"listing the compute nodes {_scope(fleet)} in {fleet.region}",
              "check the AWS credentials and that they allow ec2:DescribeInstances"):
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
                    dns = (instance.get("PrivateDnsName") or instance["InstanceId"]).split(".")[0]
                    name = tags.get(NODE_TAG) or dns
                    nodes.append(Node(name=name, address=instance["PrivateIpAddress"], host_key=fleet.host_key))
    return sorted(nodes, key=lambda node: node.name)
