"""Compute nodes on Azure, found when a task runs: the VMs the head created for Slurm's nodes (tagged
``chpc:environment`` and ``chpc:node``, in their partitions' Flexible scale sets), or, for a contract of a cluster
deployed before partitions (its fleet tagged ``cloud-hpc-toolkit:fleet``), the VMs of its Uniform scale set.

A node is named by its computer name (the host name it registers with Slurm) and reached at the private
address of its primary network interface; only VMs whose power state is running count.

The search is the stack's own already: its resource group is the stack's (azure-native names it with a random
suffix, and the spec cannot name an existing one), in the subscription the stack deployed to. Within it, a contract
naming the scale set (``fleet.group``) is held to that one set, so a tagged set added to the group by hand is not
taken for the fleet.
"""

from __future__ import annotations

import time
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from spec.outputs import ENVIRONMENT_TAG, NODE_TAG, AzureScope, ComputeFleet, Node
from targets.azure.errors import AzureError, step
from targets.azure.session import AzureSession

RUNNING = "PowerState/running"


def compute_nodes(session: AzureSession, scope: AzureScope, fleet: ComputeFleet) -> list[Node]:
    """The running VMs of the fleet's scale set (every set carrying the fleet tag, for a contract that names
    none) in the environment's resource group, sorted by name so every task sees the same order."""
    compute = session.client(ComputeManagementClient)
    network = session.client(NetworkManagementClient)
    group = scope.resource_group
    if fleet.tag_key == ENVIRONMENT_TAG:
        return _named_nodes(compute, network, group, fleet)
    nodes: list[Node] = []
    with step(f"listing the compute nodes {_scope(fleet)} in resource group {group}",
              "check the Azure login (az login or AZURE_* variables) and that it may read VMs and network "
              "interfaces in the resource group (Reader)"):
        for scale_set in compute.virtual_machine_scale_sets.list(group):
            if not _of_fleet(scale_set, fleet):
                continue
            addresses = _addresses(network, group, scale_set.name)
            for vm in compute.virtual_machine_scale_set_vms.list(group, scale_set.name, expand="instanceView"):
                address = addresses.get(vm.id.lower())
                if _running(vm) and address:
                    name = vm.os_profile.computer_name if vm.os_profile else vm.name
                    nodes.append(Node(name=name, address=address, host_key=fleet.host_key))
    return sorted(nodes, key=lambda node: node.name)


def _named_nodes(compute: ComputeManagementClient, network: NetworkManagementClient, group: str,
                 fleet: ComputeFleet) -> list[Node]:
    """The running VMs tagged as this environment's Slurm nodes, by name."""
    nodes: list[Node] = []
    with step(f"listing the compute nodes tagged {fleet.tag_key}={fleet.tag_value} in resource group {group}",
              "check the Azure login (az login or AZURE_* variables) and that it may read VMs and network "
              "interfaces in the resource group (Reader)"):
        addresses = _vm_addresses(network.network_interfaces.list(group))
        for vm in compute.virtual_machines.list(group, expand="instanceView"):
            tags = vm.tags or {}
            address = addresses.get(vm.id.lower())
            if tags.get(fleet.tag_key) == fleet.tag_value and tags.get(NODE_TAG) and _running(vm) and address:
                nodes.append(Node(name=tags[NODE_TAG], address=address, host_key=fleet.host_key))
    return sorted(nodes, key=lambda node: node.name)


def wait_for_nodes(session: AzureSession, scope: AzureScope, fleet: ComputeFleet, timeout: float,
                   poll: float = 10.0) -> list[Node]:
    """Wait until ``fleet.expected`` nodes run: a task right after ``up`` would otherwise see half a fleet."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = compute_nodes(session, scope, fleet)
        if len(nodes) >= fleet.expected:
            return nodes
        if time.monotonic() >= deadline:
            where = ("the head's /var/log/slurm/power.log (what Azure answered its resume program) and `sinfo -R`"
                     if fleet.tag_key == ENVIRONMENT_TAG else "the scale set's activity log")
            raise AzureError(f"waiting for compute nodes: {len(nodes)} of {fleet.expected} VMs {_scope(fleet)} "
                             f"in {scope.resource_group} are running after "
                             f"{timeout:g} s; look at {where} (quota, capacity, allocation "
                             "failures in the proximity placement group) or wait longer with a larger timeout")
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def _of_fleet(scale_set: Any, fleet: ComputeFleet) -> bool:
    """Carries the fleet tag and, where the contract names the fleet's scale set, is that set."""
    tagged = (scale_set.tags or {}).get(fleet.tag_key) == fleet.tag_value
    return tagged and fleet.group in (None, scale_set.name)


def _scope(fleet: ComputeFleet) -> str:
    """How the search is narrowed, for messages."""
    where = f"tagged {fleet.tag_key}={fleet.tag_value}"
    if fleet.tag_key == ENVIRONMENT_TAG:
        return f"{where} and {NODE_TAG}"
    return f"of scale set {fleet.group} ({where})" if fleet.group else f"of the scale set {where}"


def _addresses(network: NetworkManagementClient, group: str, scale_set: str) -> dict[str, str]:
    """VM id (lower case) -> private address of its primary NIC's primary IP configuration."""
    return _vm_addresses(network.network_interfaces.list_virtual_machine_scale_set_network_interfaces(group,
                                                                                                     scale_set))


def _vm_addresses(nics: Any) -> dict[str, str]:
    """VM id (lower case) -> the private address of ``nics``' primary ones, by the VM each belongs to."""
    found = {}
    for nic in nics:
        if nic.virtual_machine is None or nic.primary is False:
            continue
        configs = nic.ip_configurations or []
        primary = next((c for c in configs if c.primary), configs[0] if configs else None)
        if primary is not None and primary.private_ip_address:
            found[nic.virtual_machine.id.lower()] = primary.private_ip_address
    return found


def _running(vm: Any) -> bool:
    statuses = vm.instance_view.statuses if vm.instance_view else None
    return any(status.code == RUNNING for status in statuses or [])
