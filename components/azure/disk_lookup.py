"""The managed disks the program attaches rather than makes, found while it runs: a disk a destroy of this
environment kept (``retain``), under its known name in the kept resource group of the environment and region, and
an existing disk the spec names by its resource id.

azure-native has no lookup by tag, and its getters fail on a missing resource rather than answer nothing: a
failure whose Azure Resource Manager response was 404 is read as "absent" (azure-native puts the response in the
message, ``RESPONSE 404`` as azcore writes it, ``StatusCode=404`` as autorest did); any other failure (a refused
login, a throttled call) stops the program, so a disk is never taken for absent, and made anew, by mistake; if one
were, azure-native would still refuse to create a disk whose name exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pulumi
import pulumi_azure_native.compute as compute
import pulumi_azure_native.resources as resources

NOT_FOUND = re.compile(r"RESPONSE 404\b|StatusCode=404\b|Status=404\b")
Found = TypeVar("Found")


@dataclass(frozen=True)
class FoundDisk:
    id: str
    location: str
    size_gb: int
    tags: dict[str, str]
    # how it was made, which an adopted disk keeps as its input (Azure cannot change it)
    create_option: str
    source_resource_id: str | None


def kept_group_name(environment: str, region: str) -> str:
    """The resource group holding an environment's retained disks in a region: a name known before deploy, so the
    next `up` finds it (a resource group name is unique in a subscription, as an environment's name is)."""
    return f"{environment}-retained-{region}"


def kept_group(name: str, opts: pulumi.InvokeOptions) -> str | None:
    """The kept group's resource id, or None when no destroy left one."""
    return _unless_absent(lambda: resources.get_resource_group(resource_group_name=name, opts=opts).id)


def retained_disk(group: str, name: str, opts: pulumi.InvokeOptions) -> FoundDisk | None:
    """The disk ``name`` in the kept ``group``, or None."""
    return _unless_absent(lambda: _disk(group, name, opts))


def existing_disk(disk_id: str, opts: pulumi.InvokeOptions) -> FoundDisk:
    """The disk ``disk_id`` names (a missing one fails, naming it)."""
    parts = disk_id.split("/")  # /subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/disks/N
    return _disk(parts[4], parts[8], opts)


def check_identity(found: FoundDisk, at: str, identity: Mapping[str, str]) -> None:
    """A disk under a retained disk's name is adopted only if it carries the environment's and volume's tags."""
    if any(found.tags.get(key) != value for key, value in identity.items()):
        tags = ", ".join(f"{key}={value}" for key, value in identity.items())
        raise ValueError(f"{at}: disk {found.id} in the kept group does not carry the tags {tags}: it is not this "
                         "environment's retained disk; move or rename it")


def check_location(found: FoundDisk, at: str, region: str) -> None:
    """A VM attaches managed disks of its own region only."""
    if found.location.replace(" ", "").lower() != region:
        raise ValueError(f"{at}: disk {found.id} is in {found.location} and the head in {region}; a VM attaches "
                         "disks of its region only (snapshot it, copy the snapshot and give from: {snapshot_id: ...})")


def _disk(group: str, name: str, opts: pulumi.InvokeOptions) -> FoundDisk:
    disk = compute.get_disk(resource_group_name=group, disk_name=name, opts=opts)
    creation = disk.creation_data
    return FoundDisk(disk.id, disk.location, int(disk.disk_size_gb or 0), dict(disk.tags or {}),
                     creation.create_option, creation.source_resource_id or None)


def _unless_absent(lookup: Callable[[], Found]) -> Found | None:
    try:
        return lookup()
    except Exception as error:  # the invoke's failure carries the provider's message only
        if NOT_FOUND.search(str(error)):
            return None
        raise
