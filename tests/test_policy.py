"""The policy pack: each policy's ``validate`` called directly, as the policy server would, with a real
``pulumi_policy.ResourceValidationArgs`` whose props go through the SDK's own unknown-checking proxy (what
the server hands policies). Constructing ``PolicyPack`` starts a server that never returns, so the entry
file is run with ``PolicyPack`` replaced by a recorder."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml
from pulumi_policy import EnforcementLevel, PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from components.security import WORLD_MARKER
from policy.policies import POLICIES, security_errors, security_warnings

POLICY_DIR = Path(__file__).resolve().parents[1] / "policy"
INSTANCE = "aws:ec2/instance:Instance"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
COMPLIANT_INSTANCE = {"ami": "ami-1", "instanceType": "c5n.large", "metadataOptions": {"httpTokens": "required"},
                      "rootBlockDevice": {"encrypted": True, "volumeSize": 32.0}}
WORLD_SSH = {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": "0.0.0.0/0"}


def args(resource_type: str, props: dict[str, Any], name: str = "res") -> ResourceValidationArgs:
    options = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                    custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(props),
                                  f"urn:pulumi:test::cloud-hpc-toolkit::{resource_type}::{name}", name, options, None)


def violations(policy: pulumi_policy.ResourceValidationPolicy, resource_type: str, props: dict[str, Any],
               name: str = "res") -> list[str]:
    reported: list[str] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        reported.append(message)

    assert policy.validate(args(resource_type, props, name), report_violation) is None  # synchronous
    return reported


def test_errors_are_mandatory_and_warnings_advisory():
    assert security_errors.enforcement_level == EnforcementLevel.MANDATORY
    assert security_warnings.enforcement_level == EnforcementLevel.ADVISORY
    assert POLICIES == [security_errors, security_warnings]


def test_compliant_instance_reports_nothing():
    for policy in POLICIES:
        assert violations(policy, INSTANCE, COMPLIANT_INSTANCE) == []


def test_imdsv1_instance_reports_a_mandatory_violation():
    props = {**COMPLIANT_INSTANCE, "metadataOptions": {"httpTokens": "optional"}}
    assert violations(security_errors, INSTANCE, props, "head") == [
        "[imdsv2-required] head: instance metadata accepts IMDSv1 (httpTokens=optional), which SSRF can reach; "
        "set metadata_options http_tokens='required'"]
    assert violations(security_warnings, INSTANCE, props, "head") == []


def test_world_open_ssh_reports_a_mandatory_violation_unless_marked():
    [message] = violations(security_errors, INGRESS_RULE, WORLD_SSH, "hpc-head-ssh")
    assert message.startswith("[ssh-world-open] hpc-head-ssh: SSH (port 22) ingress from 0.0.0.0/0")
    assert violations(security_warnings, INGRESS_RULE, WORLD_SSH) == []
    marked = {**WORLD_SSH, "description": f"SSH from anywhere, {WORLD_MARKER}"}
    assert violations(security_errors, INGRESS_RULE, marked) == []
    assert len(violations(security_warnings, INGRESS_RULE, marked)) == 1


def test_other_world_open_ports_are_advisory():
    https = {**WORLD_SSH, "fromPort": 443.0, "toPort": 443.0}
    assert violations(security_errors, INGRESS_RULE, https) == []
    assert [m.split("]")[0] for m in violations(security_warnings, INGRESS_RULE, https)] == ["[world-open-ingress"]


def test_unencrypted_volume_and_plaintext_secret_report():
    assert len(violations(security_errors, "aws:ebs/volume:Volume", {"size": 10.0, "encrypted": False})) == 1
    definition = '[{"name": "app", "environment": [{"name": "DB_PASSWORD", "value": "hunter2"}]}]'
    [message] = violations(security_errors, "aws:ecs/taskDefinition:TaskDefinition",
                           {"family": "app", "containerDefinitions": definition})
    assert message.startswith("[plaintext-secret]")


def test_unknown_values_reach_the_policy_framework():
    """During preview an unknown input raises UnknownValueError, which the policy server turns into a
    'cannot be checked during preview' note; the rules must not swallow it as compliant."""
    props = {**COMPLIANT_INSTANCE, "metadataOptions": {"httpTokens": UNKNOWN_STRING_VALUE}}
    with pytest.raises(UnknownValueError):
        violations(security_errors, INSTANCE, props)


def test_entry_file_builds_the_pack_from_the_policies(monkeypatch):
    built: dict[str, Any] = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    assert built["name"] == "cloud-hpc-toolkit-security"
    assert [policy.name for policy in built["policies"]] == ["security-errors", "security-warnings"]


def test_pack_project_file_and_requirements():
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    requirements = (POLICY_DIR / "requirements.txt").read_text().split()
    assert "pulumi-policy==1.21.0" in requirements
