"""A Slurm cluster on Azure: a head VM with a public address and, per partition, a Flexible scale set
(``partition.py``), all in one proximity placement group, every node configured at first boot by the same ``ansible/``
roles as the other targets (the bundle and the shared boot script travel as cloud-init custom data).

As on AWS no compute VM is declared here: slurm.conf names every node of every partition (``elastic_slurm.py``), and
the head's resume program (``components/boot/azure_power.py``, allowed by the head identity's custom role,
``power_role.py``) creates a node's VM, named for the node, in its partition's scale set when Slurm wants it, the
always-on ones as the head boots. So the resources do not grow with the node count: the nodes share one host key and
one munge key, and tasks find them by tag. The keys wait in a Key Vault (boot_secrets.py), which each node role reads
with its own identity: the custom data carries none.

The head renders each node's custom data itself (the partition's boot script from its power config, the ansible/
bundle it booted from): Azure's 64 KB of custom data hold the head's own document with the bundle, not a second one.

Images: Ubuntu 24.04, whose Slurm (23.11), munge, Open MPI and nfs-common packages carry the names the roles
install; ``networking: rdma`` and GPU nodes take Ubuntu-HPC 24.04 (the same release with the InfiniBand drivers, MPI
stacks and the NVIDIA driver), so head and compute nodes always run the same Slurm release.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.compute as compute
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.network as network
import pulumi_random as random
import pulumi_tls as tls
from pulumi import Input, Output

from components.azure.boot_secrets import boot_secrets
from components.azure.custom_data import bundle_files, encode
from components.azure.head_power import power_files, slurm_power_vars
from components.azure.partition import AzureComputePartition, AzurePartitionArgs
from components.azure.power_role import power_actions
from components.boot import azure_power
from components.boot.cloud_config import BOOT_PATH, cloud_config
from components.boot.config import BUNDLE_DIR, BootConfig, BundleInPlace, KeyVaultSecret, Role, SshLogin
from components.boot.script import NODE_SECRETS, boot_script
from components.cloud_partitions import declared_nodes, power_saving_vars
from components.fleet import openssh_public
from components.security import refuse
from spec import environment as spec
from spec.machine_types import accelerated_networking, check_vm_networking
from spec.outputs import ENVIRONMENT_TAG

OS_DISK_GB = 64
# Standard SSD works on every size (Premium needs an "s" size); the OS disk only boots the node.
OS_DISK_TYPE = "StandardSSD_LRS"
UBUNTU = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
UBUNTU_HPC = {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2404", "version": "latest"}


@dataclass(frozen=True)
class AzureSlurmClusterArgs:
    cluster_name: str
    head: spec.Head
    partitions: tuple[spec.Partition, ...]
    ssh_user: str
    ssh_public_key: str  # the user's public key line
    resource_group_name: Input[str]
    location: str
    subnet_id: Input[str]  # the cluster subnet (AzureNetwork): head and compute nodes side by side
    subnet_prefix: str  # ... and its address prefix, which fixes the head's private address
    ansible_dir: Path  # the project's ansible/ folder, shipped in the custom data
    tags: dict[str, str]
    scaling: spec.Scaling = field(default_factory=spec.Scaling)
    head_data_disks: Sequence[tuple[int, Input[str]]] = ()  # (LUN, managed disk id) from AzureStorage
    # The availability zone of the head, its disks and the scale sets (components/azure/zones.py); None: regional.
    zone: str | None = None
    # Each node role's tunables (what it mounts: stacks/slurm.py); may hold outputs (the share's name), resolved
    # before the custom data is rendered.
    boot_vars: Mapping[Role, Mapping[str, Any]] = field(default_factory=dict)
    # A partition's own tunables over the compute ones (the networking its size has, for the mpi role).
    partition_vars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


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
    """Proximity placement group, head VM (public IP, NIC), a Flexible scale set per partition, deploy-time keys in a
    Key Vault, the nodes' identity (reading the compute secret only) and the head's (its secret, and its power role on
    the resource group)."""

    head_public_ip: pulumi.Output[str]
    head_private_ip: pulumi.Output[str]
    head_host_key: pulumi.Output[str]
    compute_host_key: pulumi.Output[str]
    nodes_identity_principal_id: pulumi.Output[str]
    head_identity_principal_id: pulumi.Output[str]
    compute_tag: tuple[str, str]

    def __init__(self, name: str, args: AzureSlurmClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not args.head.instance_type or not args.partitions or \
                not all(partition.instance_type for partition in args.partitions):
            raise ValueError("AzureSlurmCluster: head.instance_type and a partition with an instance_type are required")
        for p in args.partitions:
            for size in dict.fromkeys([p.instance_type or "", *p.instance_types]):
                refuse(check_vm_networking(size, p.networking))
        bundle = bundle_files(args.ansible_dir)
        super().__init__("cloud-hpc-toolkit:azure:SlurmCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        where = {"resource_group_name": args.resource_group_name, "location": args.location, "tags": args.tags}
        head_name = f"{args.cluster_name}-head"
        head_private_ip = head_address(args.subnet_prefix)
        zones = [args.zone] if args.zone else None
        client = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self))
        group_id = Output.concat("/subscriptions/", client.subscription_id, "/resourceGroups/",
                                 args.resource_group_name)

        # Generated at deploy time, a fixed number whatever the node count; they stay in the state (secret) and in
        # the Key Vault, never in custom data.
        head_key = tls.PrivateKey(f"{name}-head-host-key", algorithm="ED25519", opts=child)
        compute_key = tls.PrivateKey(f"{name}-compute-host-key", algorithm="ED25519", opts=child)
        munge_key = random.RandomBytes(f"{name}-munge-key", length=1024, opts=child)

        # One identity per node role. The compute nodes' reads their boot secret and nothing else; it is also there
        # so that a job can reach the user's data once the user grants this one identity that role. The head's reads
        # its own secret and holds the power role: a compute node broken into can start no VM.
        nodes_identity = managedidentity.UserAssignedIdentity(f"{name}-nodes", **where, opts=child)
        head_identity = managedidentity.UserAssignedIdentity(f"{name}-head", **where, opts=child)
        identities = {"head": head_identity, "compute": nodes_identity}
        vault_url, secret_names, secrets_ready = boot_secrets(
            name, resource_group_name=args.resource_group_name, location=args.location, tags=args.tags,
            subnet_id=args.subnet_id, readers={role: i.principal_id for role, i in identities.items()},
            munge_key=munge_key, host_keys={"head": head_key, "compute": compute_key}, parent=self)
        power_role = self._power_role(name, group_id, head_identity.principal_id)
        nodes = declared_nodes(args.partitions)
        elastic = {**power_saving_vars("azure", args.partitions, args.scaling), **slurm_power_vars()}

        def boot(role: Role, values: dict[str, Any]) -> BootConfig:
            """The boot of a ``role`` node, naming its secret, holding none."""
            return BootConfig(
                role=role, cluster_name=args.cluster_name, head_name=head_name,
                munge_key=KeyVaultSecret(values["vault"], secret_names[role], values["client"]),
                bundle=BundleInPlace(), head_address=head_private_ip, compute_nodes=nodes,
                login=SshLogin(args.ssh_user, args.ssh_public_key), host_public_key=values["public"].strip(),
                imds_users=("slurm",) if role == "head" else (), tunables={**elastic, **values["tunables"]})

        def compute_script(values: dict[str, Any]) -> str:
            """A partition's compute boot script, once its node's whole custom data is known to fit Azure's limit
            (the head renders it with this bundle when it creates a node)."""
            config = boot("compute", values)
            encode(cloud_config(config, bundle))
            return boot_script(config)

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

        self.compute_tag = (ENVIRONMENT_TAG, args.cluster_name)
        compute_common = {"vault": vault_url, "client": nodes_identity.client_id, "subnet": args.subnet_id,
                          "public": compute_key.public_key_openssh, "placement": placement.id,
                          "identity": nodes_identity.id}
        launches: dict[str, Output[azure_power.PartitionVms]] = {}
        for p in args.partitions:
            scale_set = AzureComputePartition(f"{name}-{p.name}", AzurePartitionArgs(
                cluster_name=args.cluster_name, partition=p, resource_group_name=args.resource_group_name,
                location=args.location, placement_group_id=placement.id, zone=args.zone, tags=args.tags,
                os_disk_type=OS_DISK_TYPE, os_disk_gb=OS_DISK_GB),
                opts=child)
            tunables = {**args.boot_vars.get("compute", {}), **args.partition_vars.get(p.name, {})}
            launches[p.name] = Output.all(**compute_common, tunables=tunables, scale_set=scale_set.scale_set_id).apply(
                lambda v, p=p: azure_power.PartitionVms(
                    scale_set_id=v["scale_set"], vm_sizes=tuple(p.instance_types),
                    accelerated=tuple(size for size in p.instance_types if accelerated_networking(size)),
                    spot=p.spot, boot_script=compute_script(v), template=azure_power.vm_template(
                        location=args.location, tags=args.tags, zone=args.zone, scale_set_id=v["scale_set"],
                        placement_group_id=v["placement"], identity_id=v["identity"], subnet_id=v["subnet"],
                        image=image(p.networking, p.gpus), admin_user=args.ssh_user, public_key=args.ssh_public_key,
                        os_disk_gb=OS_DISK_GB, os_disk_type=OS_DISK_TYPE)))
        config = Output.all(client.subscription_id, args.resource_group_name, head_identity.client_id,
                            Output.all(**launches)).apply(lambda v: azure_power.power_config(azure_power.Config(
                                environment=args.cluster_name, subscription_id=v[0], resource_group=v[1],
                                client_id=v[2], bundle_dir=BUNDLE_DIR, fetcher_path=NODE_SECRETS,
                                boot_path=BOOT_PATH, partitions=v[3])))

        head_custom_data = Output.all(
            vault=vault_url, client=head_identity.client_id, tunables=args.boot_vars.get("head", {}),
            public=head_key.public_key_openssh, config=config,
        ).apply(lambda v: encode(cloud_config(boot("head", v), [*bundle, *power_files(v["config"])])))
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
                                                        user_assigned_identities=[head_identity.id]), **where,
            # cloud-init applies custom data once per VM: a changed bundle would not reconfigure the head,
            # and Azure does not let a VM's custom data change, so changes are not applied.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                ignore_changes=["osProfile.customData"], depends_on=[*secrets_ready, power_role])))

        self.head_public_ip = head_ip.ip_address
        self.head_private_ip = Output.from_input(head_private_ip)
        self.head_host_key = head_key.public_key_openssh.apply(openssh_public)
        self.compute_host_key = compute_key.public_key_openssh.apply(openssh_public)
        self.nodes_identity_principal_id = nodes_identity.principal_id
        self.head_identity_principal_id = head_identity.principal_id
        self.register_outputs({
            "nodes_identity_principal_id": self.nodes_identity_principal_id,
            "head_identity_principal_id": self.head_identity_principal_id,
            "head_public_ip": self.head_public_ip, "head_private_ip": self.head_private_ip,
            "head_host_key": self.head_host_key, "compute_host_key": self.compute_host_key,
            "compute_tag": list(self.compute_tag),
        })

    def _power_role(self, name: str, group_id: Output[str], principal_id: Output[str]) -> pulumi.Resource:
        """The head identity's custom role on the environment's resource group: exactly ``power_actions()``."""
        child = pulumi.ResourceOptions(parent=self)
        definition = authorization.RoleDefinition(
            f"{name}-head-power", role_name=group_id.apply(lambda group: f"cloud-hpc-toolkit power {group}"),
            description="Create and delete this environment's Slurm compute VMs (cloud-hpc-toolkit)",
            permissions=[authorization.PermissionArgs(actions=power_actions())], scope=group_id,
            assignable_scopes=[group_id], opts=child)
        return authorization.RoleAssignment(
            f"{name}-head-power", principal_id=principal_id, principal_type="ServicePrincipal",
            role_definition_id=definition.id, scope=group_id, opts=child)
