"""The head's power policy, statement by statement. What it says is all that is tested here: moto_server's
authorization (``INITIAL_NO_AUTH_ACTION_COUNT``) evaluates no EC2 condition key (moto 5.2.5 passes a request no
condition values, and a condition with no values to compare passes), so a test of what the policy *does* against
moto would pass whatever the conditions said. That the program calls only the actions granted here is tested in
``test_ec2_power.py`` by the calls it really makes."""

from __future__ import annotations

import json

import pytest

from components.aws.power_policy import head_power_policy
from components.boot import ec2_power
from spec.outputs import ENVIRONMENT_TAG

REGION, ACCOUNT = "eu-west-3", "123456789012"
TEMPLATES = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-0compute", f"arn:aws:ec2:{REGION}:{ACCOUNT}:"
             "launch-template/lt-0gpu"]
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/hpc-dev-node"


def statements(environment: str = "hpc-dev", account: str = ACCOUNT) -> dict[str, dict[str, object]]:
    document = head_power_policy(environment, TEMPLATES, REGION, NODE_ROLE, account)
    assert document["Version"] == "2012-10-17"
    json.dumps(document)  # IAM takes it as JSON
    return {statement.pop("Sid"): statement for statement in document["Statement"]}


def test_launches_only_from_the_partitions_templates_and_only_tagged_as_this_environment() -> None:
    found = statements()
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    assert found["LaunchTheEnvironmentsNodes"] == {
        "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": [f"{arn}:instance/*", f"{arn}:volume/*"],
        "Condition": {"ArnLike": {"ec2:LaunchTemplate": TEMPLATES},
                      "StringEquals": {"aws:RequestTag/chpc:environment": "hpc-dev"}}}
    other = found["FromItsLaunchTemplates"]
    assert (other["Action"], other["Condition"]) == ("ec2:RunInstances", {"ArnLike": {"ec2:LaunchTemplate": TEMPLATES}})
    assert sorted(other["Resource"]) == sorted([
        f"{arn}:subnet/*", f"{arn}:network-interface/*", f"{arn}:security-group/*", f"{arn}:key-pair/*",
        f"{arn}:placement-group/*", f"{arn}:launch-template/*", f"{arn}:spot-instances-request/*",
        f"arn:aws:ec2:{REGION}::image/*"])
    # no statement lets RunInstances create an instance or a volume without the environment's tag
    untagged = [resource for sid, s in found.items() if s["Action"] == "ec2:RunInstances"
                and sid != "LaunchTheEnvironmentsNodes" for resource in s["Resource"]]
    assert untagged and not any(":instance/" in resource or ":volume/" in resource for resource in untagged)


def test_tags_only_on_launch_and_terminates_only_this_environments_instances() -> None:
    found = statements("hpc-prod")
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    assert found["TagOnLaunchOnly"] == {
        "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": [f"{arn}:instance/*", f"{arn}:volume/*"],
        "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances",
                                       "aws:RequestTag/chpc:environment": "hpc-prod"}}}
    assert found["TerminateTheEnvironmentsNodes"] == {
        "Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": f"{arn}:instance/*",
        "Condition": {"StringEquals": {"aws:ResourceTag/chpc:environment": "hpc-prod"}}}


def test_describes_everything_passes_only_the_node_role_and_grants_nothing_else() -> None:
    found = statements()
    assert found["FindTheNodes"] == {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}
    assert found["PassTheNodeRole"] == {
        "Effect": "Allow", "Action": "iam:PassRole", "Resource": NODE_ROLE,
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}
    assert len(found) == 6 and all(s["Effect"] == "Allow" and "*" not in s["Action"] for s in found.values())


def test_any_account_when_none_is_given() -> None:
    assert statements(account="*")["TerminateTheEnvironmentsNodes"]["Resource"] == f"arn:aws:ec2:{REGION}:*:instance/*"


def test_the_tag_is_the_one_the_stack_puts_and_the_program_looks_for() -> None:
    assert ec2_power.ENVIRONMENT_TAG == ENVIRONMENT_TAG


def test_no_template_is_refused() -> None:
    with pytest.raises(ValueError, match="hpc-dev: no launch template"):
        head_power_policy("hpc-dev", [], REGION, NODE_ROLE)
