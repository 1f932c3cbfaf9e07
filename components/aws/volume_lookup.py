"""The EBS volumes the program attaches rather than makes, found while it runs: a volume a destroy of this
environment kept (``retain``), by the tags it carries, and an existing volume the spec names, by its id.

Both are the provider's data sources, invoked synchronously, so what the program declares follows their answer
in `pulumi preview` as in `pulumi up`; the offline plan answers them with its mocks. What a found volume must be
to go on the head (its zone, its encryption, no smaller than it is) is checked here, in one line, before any
resource is declared: AWS would refuse it half way through the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# A retained volume is looked for among detached ones: while its environment is up it is attached (in use) and
# already in the stack, which needs no lookup, and a volume attached elsewhere is not one to take.
DETACHED = "available"


@dataclass(frozen=True)
class FoundVolume:
    id: str
    availability_zone: str
    size: int
    encrypted: bool
    snapshot_id: str | None  # the snapshot it was made from, which an adopted volume keeps as its input


def retained_volume(identity: Mapping[str, str], opts: pulumi.InvokeOptions) -> FoundVolume | None:
    """The detached volume tagged ``identity`` (environment and volume name), or None; several are one line."""
    ids = aws.ebs.get_ebs_volumes(
        tags=dict(identity), filters=[aws.ebs.GetEbsVolumesFilterArgs(name="status", values=[DETACHED])],
        opts=opts).ids
    if len(ids) > 1:
        tags = ", ".join(f"{key}={value}" for key, value in identity.items())
        raise ValueError(f"{len(ids)} detached volumes are tagged {tags}: {', '.join(sorted(ids))}; "
                         "delete or untag all but the one to attach again")
    return volume_by_id(ids[0], opts) if ids else None


def volume_by_id(volume_id: str, opts: pulumi.InvokeOptions) -> FoundVolume:
    """The volume ``volume_id`` (the data source fails on an unknown id, naming it)."""
    found = aws.ebs.get_volume(filters=[aws.ebs.GetVolumeFilterArgs(name="volume-id", values=[volume_id])],
                               opts=opts)
    return FoundVolume(found.volume_id, found.availability_zone, int(found.size), bool(found.encrypted),
                       found.snapshot_id or None)


def check_attachable(found: FoundVolume, at: str, zone: str) -> None:
    """A volume attaches only to an instance in its zone, and the spec's volumes are encrypted at rest."""
    if found.availability_zone != zone:
        raise ValueError(f"{at}: volume {found.id} is in zone {found.availability_zone} and the head in {zone}; "
                         "an EBS volume attaches only in its zone (snapshot it and give from: {snapshot_id: ...})")
    if not found.encrypted:
        raise ValueError(f"{at}: volume {found.id} is not encrypted at rest; attach an encrypted copy (a snapshot "
                         "of it copied with encryption, given as from: {snapshot_id: ...})")
