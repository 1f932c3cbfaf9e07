"""One Slurm partition's EC2 side: the launch template its nodes start from, and a cluster placement group when its
instance type may join one. It starts nothing: the head's resume program (``components/boot/ec2_power.py``)
launches each node from the template when Slurm wants it, so the resources do not grow with ``max`` or ``min``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import Input

from spec import environment as spec

ROOT_VOLUME_GB = 32
# Families EC2 keeps out of cluster placement groups: burstable (t3, t4g, ...) and flex (m7i-flex, ...).
NO_CLUSTER_PLACEMENT = re.compile(r"t\d+[a-z]*|[a-z]+\d+[a-z]*-flex")


def may_cluster(instance_type: str) -> bool:
    """Whether instances of ``instance_type`` may share a cluster placement group."""
    return not NO_CLUSTER_PLACEMENT.fullmatch(instance_type.split(".")[0])


def compute_imds() -> dict[str, object]:
    """IMDSv2 only, hop limit 1 (nothing runs in containers on the nodes), and the instance's tags readable: a
    node learns its Slurm name from its ``chpc:node`` tag."""
    return {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "enabled"}


@dataclass(frozen=True)
class PartitionArgs:
    partition: spec.Partition
    image_id: Input[str]
    root_device_name: Input[str]
    instance_profile_arn: Input[str]
    security_group_id: Input[str]  # the cluster group, on the primary interface
    user_data: Input[str]  # base64, as a launch template takes it
    tags: dict[str, str]


class ComputePartition(pulumi.ComponentResource):
    """A partition's launch template (and placement group)."""

    template_id: pulumi.Output[str]
    template_arn: pulumi.Output[str]

    def __init__(self, name: str, args: PartitionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cloud-hpc-toolkit:aws:ComputePartition", name, None, opts)
        partition = args.partition
        instance_type = partition.instance_type or ""
        child = pulumi.ResourceOptions(parent=self)
        placement = None
        if may_cluster(instance_type):
            placement = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster", tags=args.tags, opts=child)
        efa = {"interface_type": "efa", "network_card_index": 0} if partition.networking == "rdma" else {}
        interface = aws.ec2.LaunchTemplateNetworkInterfaceArgs(
            device_index=0, security_groups=[args.security_group_id], associate_public_ip_address="false",
            delete_on_termination="true", **efa)
        template = aws.ec2.LaunchTemplate(
            name, image_id=args.image_id, instance_type=instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=args.instance_profile_arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(**compute_imds()),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=args.root_device_name, ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_type="gp3", volume_size=ROOT_VOLUME_GB, encrypted="true", delete_on_termination="true"))],
            # the security group sits on the interface (a template-level one would conflict); the resume program
            # names the subnet on the same interface
            network_interfaces=[interface],
            placement=aws.ec2.LaunchTemplatePlacementArgs(group_name=placement.name) if placement else None,
            user_data=args.user_data,
            # the resume program adds chpc:node and Name to each launch
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=args.tags)
                                for kind in ("instance", "volume")],
            # what the plan prices: the always-on nodes, and how many it may grow to
            tags={**args.tags, "chpc:partition": partition.name, "chpc:min": str(partition.min),
                  "chpc:max": str(partition.max)},
            update_default_version=True, opts=child)
        self.template_id = template.id
        self.template_arn = template.arn
        self.register_outputs({"template_id": self.template_id, "template_arn": self.template_arn})
