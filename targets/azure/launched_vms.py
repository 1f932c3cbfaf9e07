"""The compute VMs an Azure head created itself (Slurm's resume program, ``components/boot/azure_power.py``): Pulumi
never knew them, so destroy deletes them first, else their NICs keep the subnet, and the scale sets they joined,
in use while Pulumi deletes them. They are the VMs of the environment's resource group tagged with the environment
and with a ``chpc:node``; their disks and NICs go with them (delete option Delete)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from azure.mgmt.compute import ComputeManagementClient

from spec.outputs import ENVIRONMENT_TAG, NODE_TAG, AzureScope
from targets.azure.errors import step
from targets.azure.session import AzureSession

DELETES_AT_ONCE = 16


def launched_vms(session: AzureSession, scope: AzureScope, environment: str) -> list[str]:
    """The names of ``environment``'s head-created VMs in its resource group."""
    with step(f"listing the compute VMs {environment}'s head created in resource group {scope.resource_group}",
              "check the Azure login may read VMs in the resource group (Reader)"):
        return sorted(vm.name for vm in session.client(ComputeManagementClient).virtual_machines.list(
            scope.resource_group) if (vm.tags or {}).get(ENVIRONMENT_TAG) == environment
            and (vm.tags or {}).get(NODE_TAG))


def delete_launched(session: AzureSession, scope: AzureScope, environment: str,
                    timeout: float = 1800.0) -> list[str]:
    """Delete them and wait until they are gone (each at most ``timeout`` seconds); returns their names."""
    names = launched_vms(session, scope, environment)
    if not names:
        return []
    compute = session.client(ComputeManagementClient)
    with step(f"deleting {len(names)} compute VM(s) {environment}'s head created in {scope.resource_group}",
              "check the Azure login may delete VMs there (Virtual Machine Contributor), delete them in the portal, "
              "then destroy again"):
        pollers = [compute.virtual_machines.begin_delete(scope.resource_group, name) for name in names]
        with ThreadPoolExecutor(DELETES_AT_ONCE) as pool:
            list(pool.map(lambda poller: poller.result(timeout=timeout), pollers))
    return names
