"""The Azure compositions: network + storage + Slurm cluster (``hpc``), container groups, HDInsight Spark, as the
spec's sections ask (``Environment.parts``), exported as the outputs contract every later task reads. Every resource
is tagged with the environment's name (Azure has no provider-wide default tags, so each component passes the tags
on), in the spec's region (location).

Storage is declared before the cluster: azure-native attaches data disks through the VM's storage
profile (it has no separate attachment resource), so the head VM takes the disks' ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_azure_native.authorization as authorization

from components.azure.containers import AzureContainerService, AzureContainerServiceArgs
from components.azure.network import AzureNetwork, AzureNetworkArgs
from components.azure.principal import principal_type
from components.azure.slurm_cluster import AzureSlurmCluster, AzureSlurmClusterArgs
from components.azure.storage import AzureStorage, AzureStorageArgs
from components.azure.zones import head_zone
from spec.environment import Environment
from spec.loader import private_key_path
from spec.outputs import ENVIRONMENT_TAG
from stacks.slurm import boot_vars, cluster_outputs, head_volumes, partition_vars

ANSIBLE_DIR = Path(__file__).resolve().parents[1] / "ansible"
NFS_OPTIONS = "vers=4,minorversion=1,sec=sys,nconnect=4"  # what Azure Files NFS documents for Linux clients


def build(env: Environment, public_key: str) -> dict[str, Any]:
    assert env.region is not None  # the spec requires it for target azure
    tags = {**env.tags, ENVIRONMENT_TAG: env.name}
    network = AzureNetwork(env.name, AzureNetworkArgs(
        network=env.network, ssh_cidr=env.ssh.allowed_cidr or "", allow_world_ssh=env.ssh.allow_world,
        location=env.region, tags=tags, nodes=_subnet_nodes(env), spark_gateway="spark" in env.parts,
        ssh_min_prefix=env.ssh.min_prefixes))
    client = authorization.get_client_config_output()
    outputs: dict[str, Any] = {
        "target": "azure", "name": env.name, "region": env.region, "ssh_user": env.ssh.user,
        "ssh_private_key": private_key_path(env),
        # Every task after `up` calls Azure in this subscription and resource group.
        "azure": {"subscription_id": client.subscription_id, "resource_group": network.resource_group_name},
    }
    if "hpc" in env.parts:
        outputs.update(_hpc(env, network, public_key, tags))
    if "containers" in env.parts:
        outputs["containers"] = _containers(env, network, tags)
    if "spark" in env.parts:
        outputs["spark"] = _spark(env, network, tags)
    return outputs


def _subnet_nodes(env: Environment) -> int:
    """The machines of the cluster subnet besides the Slurm head: compute nodes and the HDInsight cluster's."""
    from components.azure.hdinsight import subnet_addresses

    nodes = sum(partition.max for partition in env.slurm_partitions)
    return nodes + (subnet_addresses(env.spark) if "spark" in env.parts and env.spark else 0)


def _hpc(env: Environment, network: AzureNetwork, public_key: str, tags: dict[str, str]) -> dict[str, Any]:
    assert env.region is not None
    user = env.ssh.user or "azureuser"
    zone = head_zone(env.region, env.storage.volumes)
    storage = AzureStorage(env.name, AzureStorageArgs(
        storage=env.storage, resource_group_name=network.resource_group_name, location=env.region,
        subnet_id=network.subnet_id, tags=tags, zone=zone))
    # The device path is known before deploy (the LUN); the disk's id tells destroy what is kept.
    volumes = head_volumes(env, storage.disk_ids, storage.devices)
    shared = None
    if env.storage.shared and storage.share_source is not None:
        shared = {"kind": "nfs", "source": storage.share_source, "mount": env.storage.shared.mount,
                  "options": NFS_OPTIONS}
    cluster = AzureSlurmCluster(env.name, AzureSlurmClusterArgs(
        cluster_name=env.name, head=env.head, partitions=tuple(env.slurm_partitions), ssh_user=user,
        ssh_public_key=public_key, resource_group_name=network.resource_group_name, location=env.region,
        subnet_id=network.subnet_id, subnet_prefix=network.subnet_prefix, ansible_dir=ANSIBLE_DIR, tags=tags,
        head_data_disks=storage.data_disks, zone=zone, boot_vars=boot_vars(env, volumes, shared, user),
        scaling=env.scaling, partition_vars=partition_vars(env)))
    return {**cluster_outputs("azure", env, cluster, {}), "volumes": volumes,
            **({"shared": shared} if shared else {})}


def _containers(env: Environment, network: AzureNetwork, tags: dict[str, str]) -> dict[str, Any]:
    """Container groups in their own delegated subnet; the export is the `ContainerService` contract
    `invoke run-task` reads (the first group is the definition a one-off run copies)."""
    assert env.containers is not None and env.region is not None  # the spec requires both here
    service = AzureContainerService(env.name, AzureContainerServiceArgs(
        containers=env.containers, resource_group_name=network.resource_group_name, location=env.region,
        vnet_name=network.vnet_name, vnet_cidr=env.network.vpc_cidr, nat_gateway_id=network.nat_gateway_id,
        tags=tags),
        # after the network's own subnet: Azure refuses two subnet operations on one network at once
        opts=pulumi.ResourceOptions(depends_on=[network]))
    return {"provider": "azure", "region": env.region, "cluster": service.group_names[0],
            "task_definition": service.group_ids[0], "container": service.container_name,
            "subnets": [service.subnet_id], "security_groups": [service.nsg_id],
            "log_group": service.workspace_customer_id}


def _spark(env: Environment, network: AzureNetwork, tags: dict[str, str]) -> dict[str, Any]:
    """An HDInsight Spark cluster in the cluster subnet; `invoke submit-spark` talks to its Livy endpoint."""
    from components.azure.hdinsight import AzureSparkCluster, AzureSparkClusterArgs

    # the spec requires them for this stack; the import stays here, beside the only use
    assert env.region is not None and env.spark is not None and env.ssh.allowed_cidr is not None
    client = authorization.get_client_config_output()
    uploader_type = authorization.get_client_token_output().token.apply(principal_type)
    cluster = AzureSparkCluster(env.name, AzureSparkClusterArgs(
        spark=env.spark, resource_group_name=network.resource_group_name, location=env.region,
        vnet_id=network.vnet_id, subnet_id=network.subnet_id, uploader_object_id=client.object_id,
        uploader_principal_type=uploader_type, subscription_id=client.subscription_id, tags=tags))
    return {"provider": "azure", "master": cluster.livy_url, "region": env.region, "bucket": cluster.container_url,
            "user": cluster.gateway_user, "password": cluster.gateway_password}
