"""A Slurm cluster on Azure: a head VM with a public address and a Uniform scale set of compute nodes,
all in one proximity placement group, every node configured at first boot by the same ``ansible/`` roles
as the other targets (the bundle and the shared boot script travel as cloud-init custom data).

As on AWS the resources do not grow with the node count: the scale set's nodes share one host key and one
munge key and register with Slurm by themselves (dynamic nodes); tasks find them by the fleet tag. The keys wait
in a Key Vault (boot_secrets.py), which the nodes read with their identity: the custom data carries none.

Images: Ubuntu 24.04, whose Slurm (23.11, dynamic nodes), munge, Open MPI and nfs-common packages carry
the names the roles install; ``networking: rdma`` and GPU nodes take Ubuntu-HPC 24.04 (the same release with the
InfiniBand drivers, MPI stacks and the NVIDIA driver), so head and compute nodes always run the same Slurm release.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_azure_native.compute as compute
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.network as network
import pulumi_random as random
import pulumi_tls as tls
from pulumi import Input, Output

from components.azure.boot_secrets import boot_secrets
from components.azure.custom_data import bundle_files, encode
from components.boot.cloud_config import cloud_config
from components.boot.config import BootConfig, BundleInPlace, KeyVaultSecret, Role, SshLogin
from components.fleet import FLEET_TAG_KEY, openssh_public
from components.security import refuse
from spec import environment as spec
from spec.machine_types import accelerated_networking, check_vm_networking

OS_DISK_GB = 64
# Standard SSD works on every size (Premium needs an "s" size); the OS disk only boots the node.
OS_DISK_TYPE = "StandardSSD_LRS"
UBUNTU = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
UBUNTU_HPC = {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2404", "version": "latest"}


@dataclass(frozen=True)
class AzureSlurmClusterArgs:
    cluster_name: str
    head: spec.Head
    compute: spec.Partition  # the one static partition (spec.Environment refuses more on the clouds, for now)
    ssh_user: str
    ssh_public_key: str  # the user's public key line
    resource_group_name: Input[str]
    location: str
    subnet_id: Input[str]  # the cluster subnet (AzureNetwork): head and compute nodes side by side
    subnet_prefix: str  # ... and its address prefix, which fixes the head's private address
    ansible_dir: Path  # the project's ansible/ folder, shipped in the custom data
    tags: dict[str, str]
    head_data_disks: Sequence[tuple[int, Input[str]]] = ()  # (LUN, managed disk id) from AzureStorage
    # The availability zone of the head, its disks and the scale set (components/azure/zones.py); None: regional.
    zone: str | None = None
    # Each node role's tunables (what it mounts: stacks/slurm.py); may hold outputs (the share's name), resolved
    # before the custom data is rendered.
    boot_vars: Mapping[Role, Mapping[str, Any]] = field(default_factory=dict)


def image(networking: str, gpus: int = 0) -> dict[str, str]:
    """The marketplace image of a node: the HPC image where InfiniBand or GPUs are wanted (it carries the InfiniBand
    drivers and the NVIDIA driver and CUDA), plain Ubuntu elsewhere; both Ubuntu 24.04, so one Slurm release."""
    return UBUNTU_HPC if networking == "rdma" or gpus else UBUNTU


def head_address(subnet_prefix: str) -> str:
    """The head's private address: the subnet's first one Azure hands out (it keeps .0 to .3). Fixed, so
    every node's custom data is known before the head exists, and the head need not guess its own
    address among its interfaces (an InfiniBand one included) at boot."""
    return str(ipaddress.ip_network(subnet_prefix).network_address + 4)


def linux_configuration(ssh_user: str, public_key: str) -> compute.LinuxConfigurationArgs:
    """Key-only login for the SSH user: Azure writes the key to the user's authorized_keys."""
    return compute.LinuxConfigurationArgs(
        disable_password_authentication=True, provision_vm_agent=True,
        ssh=compute.SshConfigurationArgs(public_keys=[compute.SshPublicKeyArgs(
            path=f"/home/{ssh_user}/.ssh/authorized_keys", key_data=public_key.strip())]))


class AzureSlurmCluster(pulumi.ComponentResource):
    """Proximity placement group, head VM (public IP, NIC), compute scale set, deploy-time keys in a Key Vault, the
    nodes' managed identity (reading those secrets only)."""

    head_public_ip: pulumi.Output[str]
    head_private_ip: pulumi.Output[str]
    head_host_key: pulumi.Output[str]
    compute_host_key: pulumi.Output[str]
    compute_group_name: pulumi.Output[str]  # the scale set's name
    nodes_identity_principal_id: pulumi.Output[str]
    compute_tag: tuple[str, str]

    def __init__(self, name: str, args: AzureSlurmClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not (args.head.instance_type and args.compute.instance_type):
            raise ValueError("AzureSlurmCluster: head.instance_type and compute.instance_type are required")
        refuse(check_vm_networking(args.compute.instance_type, args.compute.networking))
        bundle = bundle_files(args.ansible_dir)
        super().__init__("cloud-hpc-toolkit:azure:SlurmCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        where = {"resource_group_name": args.resource_group_name, "location": args.location, "tags": args.tags}
        head_name = f"{args.cluster_name}-head"
        head_private_ip = head_address(args.subnet_prefix)
        zones = [args.zone] if args.zone else None

        # Generated at deploy time, a fixed number whatever the node count; they stay in the state (secret) and in
        # the Key Vault, never in custom data.
        head_key = tls.PrivateKey(f"{name}-head-host-key", algorithm="ED25519", opts=child)
        compute_key = tls.PrivateKey(f"{name}-compute-host-key", algorithm="ED25519", opts=child)
        munge_key = random.RandomBytes(f"{name}-munge-key", length=1024, opts=child)

        # The nodes' identity: it reads the nodes' boot secrets and nothing else. It is also there so that a job
        # can reach the user's data (a blob container, a key vault) once the user grants this one identity that
        # role, without touching the VMs.
        nodes_identity = managedidentity.UserAssignedIdentity(f"{name}-nodes", **where, opts=child)
        vault_url, secret_names, secrets_ready = boot_secrets(
            name, resource_group_name=args.resource_group_name, location=args.location, tags=args.tags,
            subnet_id=args.subnet_id, reader_principal_id=nodes_identity.principal_id, munge_key=munge_key,
            host_keys={"head": head_key, "compute": compute_key}, parent=self)

        def custom_data(role: Role, values: dict[str, Any]) -> str:
            """The cloud-config of a ``role`` node, naming its secret, holding none. The bundle travels in it
            (custom_data.py), so the boot script finds it in place instead of fetching it as on AWS."""
            return encode(cloud_config(BootConfig(
                role=role, cluster_name=args.cluster_name, head_name=head_name,
                munge_key=KeyVaultSecret(values["vault"], secret_names[role], values["client"]),
                bundle=BundleInPlace(), head_address=head_private_ip,
                login=SshLogin(args.ssh_user, args.ssh_public_key), host_public_key=values["public"].strip(),
                tunables=values["tunables"]), bundle))

        # Both node kinds share one proximity placement group: the head is one hop from every node.
        placement = compute.ProximityPlacementGroup(f"{name}-placement", proximity_placement_group_type="Standard",
                                                    **where, opts=child)
        head_ip = network.PublicIPAddress(
            f"{name}-head-ip", sku=network.PublicIPAddressSkuArgs(name="Standard"),
            public_ip_allocation_method="Static", public_ip_address_version="IPv4", **where, opts=child)
        nic = network.NetworkInterface(
            f"{name}-head", enable_accelerated_networking=accelerated_networking(args.head.instance_type),
            ip_configurations=[network.NetworkInterfaceIPConfigurationArgs(
                name="primary", primary=True, subnet=network.SubnetArgs(id=args.subnet_id),
                private_ip_allocation_method="Static", private_ip_address=head_private_ip,
                public_ip_address=network.PublicIPAddressArgs(id=head_ip.id))],
            **where, opts=child)

        identity = {"vault": vault_url, "client": nodes_identity.client_id}
        head_custom_data = Output.all(**identity, tunables=args.boot_vars.get("head", {}),
                                      public=head_key.public_key_openssh).apply(lambda v: custom_data("head", v))
        compute.VirtualMachine(
            f"{name}-head", vm_name=head_name,
            hardware_profile=compute.HardwareProfileArgs(vm_size=args.head.instance_type),
            os_profile=compute.OSProfileArgs(computer_name=head_name, admin_username=args.ssh_user,
                                             custom_data=head_custom_data,
                                             linux_configuration=linux_configuration(args.ssh_user,
                                                                                     args.ssh_public_key)),
            storage_profile=compute.StorageProfileArgs(
                image_reference=compute.ImageReferenceArgs(**image("none")),
                os_disk=compute.OSDiskArgs(create_option="FromImage", delete_option="Delete", caching="ReadWrite",
                                           disk_size_gb=OS_DISK_GB,
                                           managed_disk=compute.ManagedDiskParametersArgs(
                                               storage_account_type=OS_DISK_TYPE)),
                # The disks are AzureStorage's (kept on destroy when retained): the VM only attaches them.
                data_disks=[compute.DataDiskArgs(lun=lun, create_option="Attach", caching="None",
                                                 delete_option="Detach",
                                                 managed_disk=compute.ManagedDiskParametersArgs(id=disk_id))
                            for lun, disk_id in args.head_data_disks]),
            network_profile=compute.NetworkProfileArgs(network_interfaces=[
                compute.NetworkInterfaceReferenceArgs(id=nic.id, primary=True)]),
            proximity_placement_group=compute.SubResourceArgs(id=placement.id), zones=zones,
            identity=compute.VirtualMachineIdentityArgs(type="UserAssigned",
                                                        user_assigned_identities=[nodes_identity.id]), **where,
            # cloud-init applies custom data once per VM: a changed bundle would not reconfigure the head,
            # and Azure does not let a VM's custom data change, so changes are not applied.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=["osProfile.customData"],
                                                                            depends_on=secrets_ready)))

        compute_custom_data = Output.all(
            **identity, tunables=args.boot_vars.get("compute", {}),
            public=compute_key.public_key_openssh).apply(lambda v: custom_data("compute", v))
        self.compute_tag = (FLEET_TAG_KEY, args.cluster_name)
        count = args.compute.max
        scale_set = compute.VirtualMachineScaleSet(
            f"{name}-compute", vm_scale_set_name=f"{args.cluster_name}-compute",
            sku=compute.SkuArgs(name=args.compute.instance_type, tier="Standard", capacity=count),
            # Uniform, one placement group, one fault domain, no extra VMs: tightly coupled MPI nodes.
            orchestration_mode="Uniform", single_placement_group=True, platform_fault_domain_count=1,
            overprovision=False, upgrade_policy=compute.UpgradePolicyArgs(mode="Manual"),
            # in the head's zone, if it has one: a zonal head anchors the placement group in that zone
            proximity_placement_group=compute.SubResourceArgs(id=placement.id), zones=zones,
            identity=compute.VirtualMachineScaleSetIdentityArgs(type="UserAssigned",
                                                                user_assigned_identities=[nodes_identity.id]),
            virtual_machine_profile=compute.VirtualMachineScaleSetVMProfileArgs(
                os_profile=compute.VirtualMachineScaleSetOSProfileArgs(
                    computer_name_prefix=f"{args.cluster_name}-c", admin_username=args.ssh_user,
                    custom_data=compute_custom_data,
                    linux_configuration=linux_configuration(args.ssh_user, args.ssh_public_key)),
                storage_profile=compute.VirtualMachineScaleSetStorageProfileArgs(
                    image_reference=compute.ImageReferenceArgs(**image(args.compute.networking, args.compute.gpus)),
                    os_disk=compute.VirtualMachineScaleSetOSDiskArgs(
                        create_option="FromImage", caching="ReadWrite", disk_size_gb=OS_DISK_GB,
                        managed_disk=compute.VirtualMachineScaleSetManagedDiskParametersArgs(
                            storage_account_type=OS_DISK_TYPE))),
                network_profile=compute.VirtualMachineScaleSetNetworkProfileArgs(network_interface_configurations=[
                    compute.VirtualMachineScaleSetNetworkConfigurationArgs(
                        name="cluster", primary=True,
                        enable_accelerated_networking=accelerated_networking(args.compute.instance_type),
                        ip_configurations=[compute.VirtualMachineScaleSetIPConfigurationArgs(
                            name="cluster", primary=True, subnet=compute.ApiEntityReferenceArgs(id=args.subnet_id))],
                    )])),
            resource_group_name=args.resource_group_name, location=args.location,
            tags={**args.tags, self.compute_tag[0]: self.compute_tag[1]},
            # Azure hands out the subnet's addresses from .4 up: the head's NIC must hold its own first.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[nic, *secrets_ready])))

        self.head_public_ip = head_ip.ip_address
        self.head_private_ip = Output.from_input(head_private_ip)
        self.head_host_key = head_key.public_key_openssh.apply(openssh_public)
        self.compute_host_key = compute_key.public_key_openssh.apply(openssh_public)
        self.compute_group_name = scale_set.name
        self.nodes_identity_principal_id = nodes_identity.principal_id
        self.register_outputs({
            "nodes_identity_principal_id": self.nodes_identity_principal_id,
            "head_public_ip": self.head_public_ip, "head_private_ip": self.head_private_ip,
            "head_host_key": self.head_host_key, "compute_host_key": self.compute_host_key,
            "compute_group_name": self.compute_group_name, "compute_tag": list(self.compute_tag),
        })
