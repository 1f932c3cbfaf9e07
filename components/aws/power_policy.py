"""The head's permission to start and stop its own compute nodes (Slurm's resume and suspend programs,
``components/boot/ec2_power.py``), and nothing more: a head that is broken into can launch only from this
environment's launch templates, only instances tagged as this environment's, and terminate only those.

How each limit is said, as EC2's authorization reference documents the keys:

- ``ec2:RunInstances`` authorizes each resource a launch touches. The instance and its volumes (the resources
  created and tagged) need ``aws:RequestTag/chpc:environment`` = the environment, and every resource needs
  ``ec2:LaunchTemplate`` to be one of the partitions' templates. The subnet comes in the request (the program picks
  one of the partition's), so ``ec2:IsLaunchTemplateResource`` is not required.
- ``ec2:CreateTags`` only as part of a launch (``ec2:CreateAction`` = ``RunInstances``): no tagging afterwards, so
  no re-tagging another environment's instance to make it terminable.
- ``ec2:TerminateInstances`` only on instances whose ``aws:ResourceTag/chpc:environment`` is the environment.
- ``ec2:DescribeInstances`` supports no resource-level permission: ``*``.
- ``iam:PassRole`` for the node role the launch templates' instance profile holds, to EC2 only.

A spot launch needs the account's EC2 Spot service-linked role, which AWS creates on the first spot request of an
account; this policy does not grant creating it.
"""

from __future__ import annotations

from typing import Any

from components.boot.ec2_power import ENVIRONMENT_TAG

# What a launch touches besides the instance and its volumes (EC2's RunInstances resource types)
_LAUNCH_RESOURCES = ("subnet", "network-interface", "security-group", "key-pair", "placement-group",
                     "launch-template", "spot-instances-request")


def head_power_policy(environment: str, launch_template_arns: list[str], region: str, node_role_arn: str,
                      account_id: str = "*") -> dict[str, Any]:
    """The IAM policy document letting the head launch and terminate exactly this environment's compute nodes."""
    if not launch_template_arns:
        raise ValueError(f"the power policy of {environment}: no launch template to launch from")
    arn = f"arn:aws:ec2:{region}:{account_id}"
    created = [f"{arn}:instance/*", f"{arn}:volume/*"]
    from_the_templates = {"ArnLike": {"ec2:LaunchTemplate": launch_template_arns}}
    tagged_as_ours = {f"aws:RequestTag/{ENVIRONMENT_TAG}": environment}
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "LaunchTheEnvironmentsNodes", "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": created,
         "Condition": {**from_the_templates, "StringEquals": tagged_as_ours}},
        {"Sid": "FromItsLaunchTemplates", "Effect": "Allow", "Action": "ec2:RunInstances",
         "Resource": [f"{arn}:{kind}/*" for kind in _LAUNCH_RESOURCES] + [f"arn:aws:ec2:{region}::image/*"],
         "Condition": from_the_templates},
        {"Sid": "TagOnLaunchOnly", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": created,
         "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances", **tagged_as_ours}}},
        {"Sid": "TerminateTheEnvironmentsNodes", "Effect": "Allow", "Action": "ec2:TerminateInstances",
         "Resource": f"{arn}:instance/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{ENVIRONMENT_TAG}": environment}}},
        {"Sid": "FindTheNodes", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
        {"Sid": "PassTheNodeRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
    ]}
