"""The Azure head's permission to create and delete its own compute nodes' VMs (Slurm's resume and suspend programs,
``components/boot/azure_power.py``), and nothing more: a custom role holding exactly the actions the program needs,
assigned to the head's own identity on the environment's resource group, where the scale sets, the subnet, the nodes'
identity and every VM live. The compute nodes' identity gets nothing of it.

``CALLED`` are the requests the program sends (tested against what it sends to the local Resource Manager);
``LINKED`` what Azure checks besides on the resources a VM's creation and deletion touch: the NIC and OS disk made and
deleted with the VM, the subnet the NIC joins, the user-assigned identity given to the VM, the scale set it joins.

Narrower than the group it cannot be: the VMs, NICs and disks do not exist before the head creates them, and a role
assigned on a scale set does not reach the VMs in it (Flexible scale-set VMs are resources of their own).
"""

from __future__ import annotations

CALLED = frozenset({
    "Microsoft.Compute/virtualMachines/read",  # is the node's VM there, and this environment's
    "Microsoft.Compute/virtualMachines/write",  # create it
    "Microsoft.Compute/virtualMachines/delete",  # suspend; a VM whose creation failed
    "Microsoft.Compute/locations/operations/read",  # follow a creation or deletion to its end
    "Microsoft.Network/networkInterfaces/read",  # the new node's private address
})
LINKED = frozenset({
    "Microsoft.Network/networkInterfaces/write", "Microsoft.Network/networkInterfaces/delete",
    "Microsoft.Network/networkInterfaces/join/action", "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Compute/disks/write", "Microsoft.Compute/disks/delete",
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
    "Microsoft.Compute/virtualMachineScaleSets/read",
})


def power_actions() -> list[str]:
    """The custom role's actions, sorted (a stable definition: no diff on every preview)."""
    return sorted(CALLED | LINKED)
