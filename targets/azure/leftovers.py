"""What still carries an environment's tag after `destroy`: resources and resource groups alike (a group left
behind costs nothing itself, but says something in it was not deleted, and hides it from the next look).

Retained disks are expected to remain, in the retained data resource group that holds them, which is kept too.
Each line is "type name (resource group)" as the Azure portal shows them.
"""

from __future__ import annotations

from azure.mgmt.resource.resources import ResourceManagementClient

from targets.azure.errors import step
from targets.azure.session import AzureSession


def tagged_leftovers(session: AzureSession, tag_key: str, tag_value: str,
                     keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Every resource and resource group in the subscription tagged ``tag_key=tag_value``, except the ARM ids
    in ``keep`` (retained disks) and the resource groups holding them."""
    kept = {ident.lower() for ident in keep}
    kept_groups = {group_of(ident) for ident in kept}
    tag_filter = f"tagName eq '{tag_key}' and tagValue eq '{tag_value}'"
    client = session.client(ResourceManagementClient)
    left = []
    with step(f"listing what is still tagged {tag_key}={tag_value} in subscription {session.subscription_id}",
              "check the Azure login may read the subscription (Reader), or look in the portal's tag view"):
        for resource in client.resources.list(filter=tag_filter):
            if resource.id.lower() not in kept:
                left.append(f"{resource.type} {resource.name} ({group_of(resource.id, original=True)})")
        for group in client.resource_groups.list(filter=tag_filter):
            if group.id.lower() not in kept_groups:
                left.append(f"Microsoft.Resources/resourceGroups {group.name}")
    return sorted(left)


def group_of(resource_id: str, original: bool = False) -> str:
    """``/subscriptions/S/resourceGroups/G/providers/...`` -> the group's id (lower case), or its name as written."""
    parts = resource_id.split("/")
    return parts[4] if original else "/".join(parts[:5]).lower()
