"""What still carries a stack's tag after `destroy` (ParallelCluster users find orphan instances, volumes and
log groups weeks later, on the bill).

The Resource Groups Tagging API sees most resource types but also lists what is already gone (terminated
instances, INACTIVE clusters and task definitions, stopped tasks), so the types that have a state are asked
directly and only the rest is taken from it. Each line is "type id", type as in the ARN (``ec2:volume``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.exceptions import ClientError

from targets.aws.errors import step

Found = tuple[str, str]  # (type, id)
Client = Callable[[str], Any]  # service name -> boto3 client


def tagged_leftovers(session: boto3.session.Session, tag_key: str, tag_value: str,
                     keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Every resource still tagged ``tag_key=tag_value``, except the ids in ``keep`` (retained volumes)."""
    client: Client = functools.cache(session.client)  # one client per service for the whole check
    found: set[Found] = set()
    for kind, check in DIRECT.items():
        with step(f"checking for leftover {kind} tagged {tag_key}={tag_value}",
                  "check the credentials allow read access to it, or look in the console"):
            found.update((kind, ident) for ident in check(client, tag_key, tag_value))
    with step(f"listing resources tagged {tag_key}={tag_value} with the Resource Groups Tagging API",
              "check the credentials allow tag:GetResources (and ecs:Describe* for ECS resources)"):
        for kind, ident, arn in _tagging_api(client, tag_key, tag_value):
            alive = ALIVE.get(kind)
            if kind not in DIRECT and (alive is None or alive(client, arn)):
                found.add((kind, ident))
    return sorted(f"{kind} {ident}" for kind, ident in found if ident not in keep)


def _tagging_api(client: Client, key: str, value: str) -> Iterator[tuple[str, str, str]]:
    tagging = client("resourcegroupstaggingapi")
    for page in tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": key, "Values": [value]}]):
        for mapping in page["ResourceTagMappingList"]:
            kind, ident = _parse_arn(mapping["ResourceARN"])
            yield kind, ident, mapping["ResourceARN"]


def _parse_arn(arn: str) -> Found:
    """``arn:aws:ec2:r:a:volume/vol-1`` -> ("ec2:volume", "vol-1"); ``...:log-group:/ecs/x:*`` -> ("logs:log-group",
    "/ecs/x"); ``arn:aws:s3:::b`` -> ("s3", "b"). The type ends at the first "/" or ":"."""
    _, _, service, _, _, resource = arn.split(":", 5)
    typed = re.fullmatch(r"([^/:]+)[/:](.+)", resource)
    return (f"{service}:{typed[1]}", typed[2].removesuffix(":*")) if typed else (service, resource)


def _tag_filter(key: str, value: str) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{key}", "Values": [value]}]


def _tagged(tags: list[dict[str, str]] | None, key: str, value: str) -> bool:
    """Tag lists come as Key/Value (EC2, EFS, S3) or key/value (ECS)."""
    return any(t.get("Key", t.get("key")) == key and t.get("Value", t.get("value")) == value for t in tags or [])


def _instances(client: Client, key: str, value: str) -> Iterator[str]:
    states = ["pending", "running", "shutting-down", "stopping", "stopped"]
    filters = [*_tag_filter(key, value), {"Name": "instance-state-name", "Values": states}]
    for page in client("ec2").get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            yield from (instance["InstanceId"] for instance in reservation["Instances"])


def _volumes(client: Client, key: str, value: str) -> Iterator[str]:
    for page in client("ec2").get_paginator("describe_volumes").paginate(Filters=_tag_filter(key, value)):
        yield from (volume["VolumeId"] for volume in page["Volumes"])


def _file_systems(client: Client, key: str, value: str) -> Iterator[str]:
    for page in client("efs").get_paginator("describe_file_systems").paginate():
        yield from (fs["FileSystemId"] for fs in page["FileSystems"]
                    if fs["LifeCycleState"] != "deleted" and _tagged(fs.get("Tags"), key, value))


def _clusters(client: Client, key: str, value: str) -> Iterator[str]:
    ecs = client("ecs")
    for page in ecs.get_paginator("list_clusters").paginate():
        arns = page["clusterArns"]
        for start in range(0, len(arns), 100):  # describe_clusters takes at most 100
            clusters = ecs.describe_clusters(clusters=arns[start:start + 100], include=["TAGS"])["clusters"]
            yield from (c["clusterName"] for c in clusters
                        if c["status"] == "ACTIVE" and _tagged(c.get("tags"), key, value))


def _log_groups(client: Client, key: str, value: str) -> Iterator[str]:
    logs = client("logs")
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            try:
                tags = logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                    continue  # deleted since the listing
                raise
            if tags.get(key) == value:
                yield group["logGroupName"]


def _buckets(client: Client, key: str, value: str) -> Iterator[str]:
    s3 = client("s3")
    for page in s3.get_paginator("list_buckets").paginate(BucketRegion=s3.meta.region_name):
        for bucket in page["Buckets"]:
            try:
                tags = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("NoSuchTagSet", "NoSuchBucket"):
                    continue  # untagged, or deleted since the listing
                raise
            if _tagged(tags, key, value):
                yield bucket["Name"]


def _task_definition_active(client: Client, arn: str) -> bool:
    """Destroy deregisters a task definition: it stays listed, INACTIVE, and costs nothing."""
    try:
        definition = client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ClientException":
            return False  # deleted (DeleteTaskDefinitions) since the tagging API's listing
        raise
    return definition["status"] == "ACTIVE"


def _task_running(client: Client, arn: str) -> bool:
    """A stopped task stays listed for a while after its cluster is gone."""
    resource = arn.split(":", 5)[5]  # task/CLUSTER/ID (the long ARN format, the default since 2021)
    if resource.count("/") != 2:
        return True
    try:
        tasks = client("ecs").describe_tasks(cluster=resource.split("/")[1], tasks=[arn])["tasks"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ClusterNotFoundException":
            return False  # its cluster is gone, so is the task
        raise
    return any(task["lastStatus"] != "STOPPED" for task in tasks)


def _emr_clusters(client: Client, key: str, value: str) -> Iterator[str]:
    """Clusters not yet terminated (a terminated one stays listed, and tagged, for weeks at no cost)."""
    emr = client("emr")
    states = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"]
    for page in emr.get_paginator("list_clusters").paginate(ClusterStates=states):
        for cluster in page["Clusters"]:
            if _tagged(emr.describe_cluster(ClusterId=cluster["Id"])["Cluster"].get("Tags"), key, value):
                yield cluster["Id"]


def _kms_key_alive(client: Client, arn: str) -> bool:
    """Destroy schedules a KMS key for deletion (7 days at least): pending deletion is gone for us."""
    try:
        metadata = client("kms").describe_key(KeyId=arn)["KeyMetadata"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NotFoundException":
            return False
        raise
    return metadata["KeyState"] not in ("PendingDeletion", "PendingReplicaDeletion")


DIRECT: dict[str, Callable[[Client, str, str], Iterator[str]]] = {
    "ec2:instance": _instances, "ec2:volume": _volumes, "elasticfilesystem:file-system": _file_systems,
    "ecs:cluster": _clusters, "logs:log-group": _log_groups, "s3": _buckets,
    "elasticmapreduce:cluster": _emr_clusters,
}
ALIVE: dict[str, Callable[[Client, str], bool]] = {
    "ecs:task-definition": _task_definition_active, "ecs:task": _task_running,
    "kms:key": _kms_key_alive,
}
