"""SSH ingress broader than the spec's minimum prefix (default /8, IPv6 /32) is an error unless ssh.allow_world:
in the rule itself, in the offline plan of the real programs (AWS and Azure), and in what the components declare."""

from __future__ import annotations

from typing import Any

import pytest

import stacks
from components.security import BROAD_MARKER, WORLD_MARKER, check_resource
from spec.environment import Environment
from spec.errors import SpecError
from spec.loader import load_spec_text
from spec.ssh_networks import SSH_MIN_PREFIX, check_ssh_cidr
from targets.plan.report import plan

INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
NSG = "azure-native:network:NetworkSecurityGroup"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForPlanning"
MACHINES = {"aws": ("c5n.large", "c5n.18xlarge", "us-east-1"), "azure": ("Standard_D4s_v5", "Standard_D4s_v5",
                                                                       "westeurope")}


def rules(cidr: str, allow_world: bool = False, min_prefix: tuple[int, int] = SSH_MIN_PREFIX) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in check_ssh_cidr(cidr, allow_world, min_prefix=min_prefix)]


@pytest.mark.parametrize(("cidr", "found"), [
    ("128.0.0.0/1", [("ssh-broad-open", "error")]),  # half the internet
    ("10.0.0.0/7", [("ssh-broad-open", "error")]),
    ("10.0.0.0/8", []),
    ("198.51.100.0/24", []),
    ("203.0.113.7/32", []),
    ("0.0.0.0/0", [("ssh-world-open", "error")]),
    ("2000::/3", [("ssh-broad-open", "error")]),
    ("2001:db8::/31", [("ssh-broad-open", "error")]),
    ("2001:db8::/32", []),
    ("::/0", [("ssh-world-open", "error")]),
])
def test_broader_than_the_minimum_prefix_is_an_error(cidr: str, found: list[tuple[str, str]]) -> None:
    assert rules(cidr) == found


def test_allow_world_turns_the_error_into_a_warning_and_min_prefix_moves_the_line() -> None:
    assert rules("128.0.0.0/1", allow_world=True) == [("ssh-broad-open", "warning")]
    assert rules("128.0.0.0/1", min_prefix=(1, 32)) == []
    assert rules("10.0.0.0/16", min_prefix=(17, 32)) == [("ssh-broad-open", "error")]
    assert rules("2001:db8::/48", min_prefix=(8, 56)) == [("ssh-broad-open", "error")]
    [finding] = check_ssh_cidr("128.0.0.0/1", False)
    assert "1/2 of the IPv4 internet" in finding.message and "ssh.min_prefix" in finding.message
    assert "ssh.allow_world: true" in finding.message


def spec(target: str, ssh: str) -> str:
    head, compute, region = MACHINES[target]
    return (f"target: {target}\nregion: {region}\nssh: {ssh}\nhead: {{instance_type: {head}}}\n"
            f"compute: {{count: 2, instance_type: {compute}}}\n")


def planned(text: str) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    env = load_spec_text(text)
    result = plan(env, lambda: stacks.build(env, KEY))
    return [(f.rule, f.severity) for f in result.findings], [r.inputs for r in result.resources]


@pytest.mark.parametrize("target", ["aws", "azure"])
def test_half_the_internet_is_a_spec_error_before_anything_is_planned(target: str) -> None:
    with pytest.raises(SpecError, match=r"^spec error: ssh\.allowed_cidr: SSH ingress from 128\.0\.0\.0/1 is open to "
                                        r"1/2 of the IPv4 internet, broader than /8 \(ssh\.min_prefix\); "):
        planned(spec(target, "{allowed_cidr: 128.0.0.0/1}"))


@pytest.mark.parametrize("target", ["aws", "azure"])
def test_a_lowered_min_prefix_reaches_the_component_which_declares_the_rule(target: str) -> None:
    findings, resources = planned(spec(target, "{allowed_cidr: 128.0.0.0/1, min_prefix: 1}"))
    assert [f for f in findings if f[1] == "error"] == []
    assert "128.0.0.0/1" in str(resources)  # the SSH rule's source, as the component declared it
    assert BROAD_MARKER in str(resources)  # so the resource-level rule warns instead of refusing
    assert ("ssh-broad-open", "warning") in findings


def test_allow_world_plans_with_a_warning() -> None:
    findings, resources = planned(spec("aws", "{allowed_cidr: 128.0.0.0/1, allow_world: true}"))
    assert ("ssh-broad-open", "warning") in findings and resources


@pytest.mark.parametrize(("field", "value"), [("min_prefix", 33), ("min_prefix", -1), ("min_prefix_v6", 129),
                                              ("min_prefix", "8x"), ("min_prefix", True)])
def test_min_prefix_out_of_range_is_one_line(field: str, value: object) -> None:
    with pytest.raises(SpecError, match=rf"^spec error: ssh\.{field} = .*: allowed: an integer from 0 to "):
        load_spec_text(f"ssh: {{{field}: {value}}}")


def test_the_defaults_are_the_ones_the_rule_uses() -> None:
    assert Environment().ssh.min_prefixes == SSH_MIN_PREFIX == (8, 32)


# --- the resource-level rules (policy pack, plan), which see only what is declared ----------------------------

def resource_rules(token: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in check_resource(token, props, "rule")]


@pytest.mark.parametrize(("source", "found"), [
    ("128.0.0.0/1", [("ssh-broad-open", "error")]),
    ("10.0.0.0/7", [("ssh-broad-open", "error")]),
    ("10.0.0.0/8", []),
    ("0.0.0.0/0", [("ssh-world-open", "error")]),
])
def test_an_aws_ssh_rule_broader_than_the_default_is_an_error(source: str, found: list[tuple[str, str]]) -> None:
    rule = {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": source}
    assert resource_rules(INGRESS_RULE, rule) == found
    inline = {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["198.51.100.0/24", source]}
    assert resource_rules(GROUP, {"ingress": [inline]}) == found


def test_a_marked_or_non_ssh_broad_rule_is_not_an_error() -> None:
    rule = {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv6": "2000::/3"}
    assert resource_rules(INGRESS_RULE, rule) == [("ssh-broad-open", "error")]
    assert resource_rules(INGRESS_RULE, {**rule, "description": f"SSH ({BROAD_MARKER})"}) == [
        ("ssh-broad-open", "warning")]
    assert resource_rules(INGRESS_RULE, {**rule, "description": f"SSH ({WORLD_MARKER})"}) == [
        ("ssh-broad-open", "warning")]
    assert resource_rules(INGRESS_RULE, {**rule, "fromPort": 443.0, "toPort": 443.0}) == []


def test_an_azure_ssh_rule_broader_than_the_default_is_an_error() -> None:
    def nsg(**rule: object) -> list[tuple[str, str]]:
        base = {"direction": "Inbound", "access": "Allow", "protocol": "Tcp", "destinationPortRange": "22"}
        return resource_rules(NSG, {"securityRules": [{**base, **rule}]})

    assert nsg(sourceAddressPrefix="128.0.0.0/1") == [("ssh-broad-open", "error")]
    assert nsg(sourceAddressPrefixes=["198.51.100.0/24", "64.0.0.0/2"]) == [("ssh-broad-open", "error")]
    assert nsg(sourceAddressPrefix="128.0.0.0/1", description=BROAD_MARKER) == [("ssh-broad-open", "warning")]
    assert nsg(sourceAddressPrefix="VirtualNetwork") == []
    assert nsg(sourceAddressPrefix="128.0.0.0/1", destinationPortRange="443") == []
