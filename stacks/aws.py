"""The AWS compositions: hpc (network + Slurm cluster + storage), containers, spark (EMR), full (two or more of
them), as the spec's sections ask (``Environment.parts``, decided in ``spec/stack_choice.py``).

One explicit provider carries the region and default tags: every resource is tagged with the
environment's name, which is what discovery and the leftover check after destroy look for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws.containers import ContainerService, ContainerServiceArgs
from components.aws.emr_cluster import EmrCluster, EmrClusterArgs
from components.aws.network import Network, NetworkArgs
from components.aws.slurm_cluster import SlurmCluster, SlurmClusterArgs
from components.aws.storage import Storage, StorageArgs
from spec.environment import Environment
from spec.loader import private_key_path
from spec.outputs import ENVIRONMENT_TAG
from stacks.slurm import boot_vars, cluster_outputs, head_volumes, partition_vars

PROJECT_DIR = Path(__file__).resolve().parents[1]
ANSIBLE_DIR = PROJECT_DIR / "ansible"


def build(env: Environment, public_key: str) -> dict[str, Any]:
    tags = {**env.tags, ENVIRONMENT_TAG: env.name}
    provider = aws.Provider(f"{env.name}-aws", region=env.region, default_tags={"tags": tags})
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    network = Network(env.name, NetworkArgs(network=env.network, ssh_cidr=env.ssh.allowed_cidr or "",
                                            allow_world_ssh=env.ssh.allow_world, tags=tags,
                                            ssh_min_prefix=env.ssh.min_prefixes), opts=opts)
    outputs: dict[str, Any] = {"target": "aws", "name": env.name, "region": env.region,
                               "ssh_user": env.ssh.user,
                               "ssh_private_key": private_key_path(env)}
    if "hpc" in env.parts:
        outputs.update(_hpc(env, network, public_key, tags, opts))
    if "containers" in env.parts:
        outputs["containers"] = _containers(env, network, tags, provider, opts)
    if "spark" in env.parts:
        outputs["spark"] = _spark(env, network, tags, opts)
    return outputs


def _hpc(env: Environment, network: Network, public_key: str, tags: dict[str, str],
         opts: pulumi.ResourceOptions) -> dict[str, Any]:
    """Storage first (the volumes in the head subnet's zone), then the cluster, whose nodes are told what to mount,
    then the volumes' attachments to the head."""
    user = env.ssh.user or "ec2-user"
    storage = Storage(env.name, StorageArgs(
        storage=env.storage, vpc_id=network.vpc_id, subnet_ids=network.private_subnet_id_list,
        cluster_security_group_id=network.cluster_security_group_id,
        head_availability_zone=network.public_subnet_zones[0], tags=tags), opts=opts)
    volumes = head_volumes(env, storage.volume_ids)
    shared = None
    if env.storage.shared and storage.file_system_dns_name is not None:
        shared = {"kind": "efs", "source": storage.file_system_dns_name, "mount": env.storage.shared.mount}
    cluster = SlurmCluster(env.name, SlurmClusterArgs(
        cluster_name=env.name, head=env.head, partitions=tuple(env.slurm_partitions), ssh_user=user,
        ssh_public_key=public_key,
        head_subnet_id=network.public_subnet_ids.apply(lambda ids: ids[0]),
        compute_subnet_id=network.private_subnet_ids.apply(lambda ids: ids[0]),
        head_security_group_id=network.head_security_group_id,
        cluster_security_group_id=network.cluster_security_group_id,
        ansible_dir=ANSIBLE_DIR, tags=tags, scaling=env.scaling, boot_vars=boot_vars(env, volumes, shared, user),
        partition_vars=partition_vars(env)), opts=opts)
    storage.attach(cluster.head_instance_id)
    return {**cluster_outputs("aws", env, cluster, {"vpc_id": network.vpc_id}), "volumes": volumes,
            **({"shared": shared} if shared else {})}


def _containers(env: Environment, network: Network, tags: dict[str, str], provider: aws.Provider,
                opts: pulumi.ResourceOptions) -> dict[str, Any]:
    assert env.containers is not None  # the containers part comes from this section
    vpc_cidr = (aws.ec2.get_vpc_output(id=env.network.vpc_id, opts=pulumi.InvokeOutputOptions(provider=provider))
                .cidr_block if env.network.vpc_id else env.network.vpc_cidr)
    service = ContainerService(env.name, ContainerServiceArgs(
        containers=env.containers, vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids, tags=tags,
        vpc_cidr=vpc_cidr), opts=opts)
    return {"provider": "aws", "region": env.region, "cluster": service.cluster_name,
            "task_definition": service.task_definition_arn, "container": service.container_name,
            "subnets": network.private_subnet_ids, "security_groups": [service.security_group_id],
            "log_group": service.log_group_name}


def _spark(env: Environment, network: Network, tags: dict[str, str], opts: pulumi.ResourceOptions) -> dict[str, Any]:
    """An EMR cluster in the first private subnet; its export is the `SparkCluster` contract `submit-spark` reads."""
    assert env.spark is not None  # the spark part comes from this section
    cluster = EmrCluster(env.name, EmrClusterArgs(
        spark=env.spark, subnet_id=network.private_subnet_id_list[0], vpc_id=network.vpc_id, cluster_name=env.name,
        bootstrap_scripts=[PROJECT_DIR / Path(script).expanduser() for script in env.spark.bootstrap],  # or absolute
        tags=tags), opts=opts)
    return {"provider": "aws", "master": cluster.cluster_id, "region": env.region, "bucket": cluster.bucket,
            "log_uri": cluster.log_uri}
