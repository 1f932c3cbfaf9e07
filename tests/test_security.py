"""The security rules themselves: instance networking from the capabilities table, every resource rule
(positive and negative, with inputs shaped as the provider receives them), and the spec-level rules (their errors
refuse the spec as it loads, their warnings are what plan shows)."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from components.security import (
    BROAD_MARKER,
    WORLD_MARKER,
    SecurityViolation,
    check_resource,
    refuse,
    ssh_marker,
)
from spec.environment import Environment
from spec.errors import SpecError
from spec.findings import Finding
from spec.loader import load_spec_file, validate
from spec.machine_types import CAPABILITIES, VM_SIZES, accelerated_networking, check_instance_networking
from spec.verdict import check_disk_encryption, spec_findings

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = "aws:ec2/instance:Instance"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
NSG = "azure-native:network:NetworkSecurityGroup"


def rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(finding.rule, finding.severity) for finding in findings]


# --- instance networking --------------------------------------------------------------------------------

def test_efa_refused_on_t3_micro_and_allowed_on_c5n_18xlarge():
    assert rules(check_instance_networking("t3.micro", "rdma")) == [("efa-unsupported", "error")]
    assert check_instance_networking("c5n.18xlarge", "rdma") == []
    assert check_instance_networking("hpc7a.96xlarge", "rdma") == []


def test_efa_refusal_names_the_sizes_of_the_same_family_that_have_it():
    [finding] = check_instance_networking("c5n.large", "rdma")
    assert "c5n.18xlarge" in finding.message and "c5n.9xlarge" in finding.message
    assert finding.resource == "compute.instance_type"


def test_ena_refused_on_t2_micro_and_allowed_where_supported_or_required():
    assert rules(check_instance_networking("t2.micro", "enhanced")) == [("ena-unsupported", "error")]
    assert check_instance_networking("t3.micro", "enhanced") == []
    assert check_instance_networking("m4.16xlarge", "enhanced") == []  # "supported", not "required"
    assert rules(check_instance_networking("m4.large", "enhanced")) == [("ena-unsupported", "error")]


def test_networking_none_asks_nothing_of_the_type():
    assert check_instance_networking("t2.micro", "none") == []


def test_unknown_type_is_an_error_when_networking_is_asked_and_a_warning_otherwise():
    [error] = check_instance_networking("c5n.18xlage", "rdma", "compute.instance_type")
    assert (error.rule, error.severity) == ("unknown-instance-type", "error")
    assert "unknown instance type c5n.18xlage" in error.message
    assert "did you mean c5n.18xlarge" in error.message and "known families: a1, c1," in error.message
    assert rules(check_instance_networking("z99.huge", "none")) == [("unknown-instance-type", "warning")]


def test_capabilities_table_records_its_source_and_covers_the_current_families():
    data = json.loads(CAPABILITIES.read_text())
    assert date.fromisoformat(data["_source"]["generated"]) and "moto" in data["_source"]["source"]
    families = {name.split(".")[0] for name in data["types"]}
    for family in ("c5n", "c6in", "c7gn", "c7i", "m5", "m7i", "r6i", "r7i", "hpc6a", "hpc6id", "hpc7a", "hpc7g",
                   "p4d", "p5", "g5", "g6", "trn1", "trn2", "x2idn", "x8g"):
        assert family in families, family
    assert data["types"]["p5.48xlarge"] == {"efa": True, "efa_interfaces": 32, "ena": "required", "gpus": 8,
                                            "gpu_maker": "NVIDIA", "gpu_model": "H100", "gpu_memory_mib": 81920}


def test_refuse_raises_for_the_first_error_and_lets_warnings_pass():
    warning = Finding("world-open-ingress", "warning", "sg", "open")
    refuse([warning])
    with pytest.raises(SecurityViolation, match=r"^\[efa-unsupported\] compute.instance_type: t3.micro has no EFA"):
        refuse([warning, *check_instance_networking("t3.micro", "rdma")])


# --- instances and launch templates ---------------------------------------------------------------------

COMPLIANT_INSTANCE = {"instanceType": "c5n.large", "metadataOptions": {"httpTokens": "required"},
                      "rootBlockDevice": {"encrypted": True, "volumeSize": 32.0, "volumeType": "gp3"}}


def test_compliant_instance_has_no_findings():
    assert check_resource(INSTANCE, COMPLIANT_INSTANCE, "head") == []


@pytest.mark.parametrize("metadata", [None, {"httpTokens": "optional"}, {"httpEndpoint": "enabled"}])
def test_instance_allowing_imdsv1_is_an_error(metadata):
    props = {**COMPLIANT_INSTANCE, "metadataOptions": metadata}
    [finding] = check_resource(INSTANCE, props, "head")
    assert (finding.rule, finding.severity, finding.resource) == ("imdsv2-required", "error", "head")


def test_instance_root_volume_must_be_encrypted_explicitly():
    for root in ({"encrypted": False, "volumeSize": 32.0}, {"volumeSize": 32.0}, None):
        assert rules(check_resource(INSTANCE, {**COMPLIANT_INSTANCE, "rootBlockDevice": root})) == [
            ("ebs-unencrypted", "error")]


def test_instance_extra_ebs_devices_must_be_encrypted():
    props = {**COMPLIANT_INSTANCE, "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": True},
                                                       {"deviceName": "/dev/sdg", "encrypted": False}]}
    [finding] = check_resource(INSTANCE, props)
    assert finding.rule == "ebs-unencrypted" and "/dev/sdg" in finding.message


COMPLIANT_TEMPLATE = {"instanceType": "c5n.18xlarge", "metadataOptions": {"httpTokens": "required"},
                      "blockDeviceMappings": [{"deviceName": "/dev/xvda",
                                               "ebs": {"encrypted": "true", "volumeSize": 32.0}}]}


def test_compliant_launch_template_has_no_findings():
    assert check_resource(TEMPLATE, COMPLIANT_TEMPLATE) == []


def test_launch_template_rules():
    imds_v1 = {**COMPLIANT_TEMPLATE, "metadataOptions": {"httpTokens": "optional"}}
    assert rules(check_resource(TEMPLATE, imds_v1)) == [("imdsv2-required", "error")]
    plain = {**COMPLIANT_TEMPLATE, "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]}
    assert rules(check_resource(TEMPLATE, plain)) == [("ebs-unencrypted", "error")]
    unmapped = {**COMPLIANT_TEMPLATE, "blockDeviceMappings": []}
    assert rules(check_resource(TEMPLATE, unmapped)) == [("ebs-unencrypted", "error")]


OLD_CLOUD_CONFIG = ('#cloud-config\n{"ssh_keys": {"ed25519_private": "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3Bl\\n'
                    '-----END OPENSSH PRIVATE KEY-----\\n"}}')


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("token", "props"), [
    (INSTANCE, {**COMPLIANT_INSTANCE, "userData": OLD_CLOUD_CONFIG}),
    (TEMPLATE, {**COMPLIANT_TEMPLATE, "userData": encoded(OLD_CLOUD_CONFIG)}),
    ("azure-native:compute:VirtualMachine", {"osProfile": {"customData": encoded(OLD_CLOUD_CONFIG)}}),
    ("azure-native:compute:VirtualMachineScaleSet",
     {"virtualMachineProfile": {"osProfile": {"customData": encoded(OLD_CLOUD_CONFIG)}}}),
], ids=["instance", "launch-template", "vm", "scale-set"])
def test_a_private_key_in_user_data_or_custom_data_is_an_error(token, props):
    [finding] = check_resource(token, props, "node")
    assert (finding.rule, finding.severity, finding.resource) == ("key-in-boot-data", "error", "node")
    assert "secret store" in finding.message


def test_the_toolkits_own_cloud_config_passes_the_key_rule():
    from components.boot.cloud_config import cloud_config
    from tests.boot.configs import aws, azure

    assert check_resource(INSTANCE, {**COMPLIANT_INSTANCE, "userData": cloud_config(aws("head"))}) == []
    assert check_resource("azure-native:compute:VirtualMachine",
                          {"osProfile": {"customData": encoded(cloud_config(azure("head")))}}) == []


# --- storage --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "rule"), [("aws:ebs/volume:Volume", "ebs-unencrypted"),
                                             ("aws:efs/fileSystem:FileSystem", "efs-unencrypted")])
def test_volumes_and_file_systems_must_be_encrypted(token, rule):
    assert check_resource(token, {"encrypted": True, "size": 500.0}) == []
    assert rules(check_resource(token, {"encrypted": False})) == [(rule, "error")]
    assert rules(check_resource(token, {})) == [(rule, "error")]


# --- ingress --------------------------------------------------------------------------------------------

def test_security_group_world_ssh_is_an_error_unless_marked_and_other_world_ports_warn():
    def group(*ingress: dict) -> list[tuple[str, str]]:
        return rules(check_resource("aws:ec2/securityGroup:SecurityGroup", {"ingress": list(ingress)}))

    ssh = {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]}
    assert group(ssh) == [("ssh-world-open", "error")]
    assert group({**ssh, "description": f"SSH, {WORLD_MARKER}"}) == [("ssh-world-open", "warning")]
    assert group({**ssh, "cidrBlocks": ["198.51.100.0/24"]}) == []
    # host bits under a /0 still mean everyone (how the address is written does not narrow it)
    assert group({**ssh, "cidrBlocks": ["198.51.100.7/0"]}) == [("ssh-world-open", "error")]
    assert group({**ssh, "cidrBlocks": [], "ipv6CidrBlocks": ["::/0"]}) == [("ssh-world-open", "error")]
    assert group({"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}) == [
        ("ssh-world-open", "error")]  # all traffic includes SSH
    assert group({**ssh, "fromPort": 443.0, "toPort": 443.0}) == [("world-open-ingress", "warning")]
    assert group({**ssh, "protocol": "udp", "fromPort": 0.0, "toPort": 65535.0}) == [("world-open-ingress", "warning")]


def test_security_group_rule_checks_ingress_only():
    token = "aws:ec2/securityGroupRule:SecurityGroupRule"
    rule = {"protocol": "tcp", "fromPort": 20.0, "toPort": 30.0, "cidrBlocks": ["0.0.0.0/0"]}
    assert rules(check_resource(token, {**rule, "type": "ingress"})) == [("ssh-world-open", "error")]
    assert check_resource(token, {**rule, "type": "egress"}) == []


def test_vpc_ingress_rule():
    ssh = {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": "0.0.0.0/0"}
    [finding] = check_resource(INGRESS_RULE, ssh, "hpc-head-ssh")
    assert (finding.rule, finding.severity, finding.resource) == ("ssh-world-open", "error", "hpc-head-ssh")
    assert WORLD_MARKER in finding.message  # says how a deliberate opening is recognised
    assert rules(check_resource(INGRESS_RULE, {**ssh, "description": WORLD_MARKER})) == [("ssh-world-open", "warning")]
    assert check_resource(INGRESS_RULE, {**ssh, "cidrIpv4": "198.51.100.0/24"}) == []
    assert check_resource(INGRESS_RULE, {"ipProtocol": "-1", "referencedSecurityGroupId": "sg-1"}) == []
    [https] = check_resource(INGRESS_RULE, {**ssh, "fromPort": 443.0, "toPort": 443.0})
    assert (https.rule, https.severity) == ("world-open-ingress", "warning") and "443-443/tcp" in https.message


# --- S3, ECS --------------------------------------------------------------------------------------------

def test_public_bucket_acls_are_errors():
    token = "aws:s3/bucketAcl:BucketAcl"
    assert rules(check_resource(token, {"bucket": "b", "acl": "public-read"})) == [("s3-public-acl", "error")]
    assert check_resource(token, {"bucket": "b", "acl": "private"}) == []
    everyone = {"grants": [{"permission": "READ", "grantee": {
        "type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}}], "owner": {"id": "o"}}
    public = {"bucket": "b", "accessControlPolicy": everyone}
    assert rules(check_resource(token, public)) == [("s3-public-acl", "error")]


def test_public_access_block_must_block_everything():
    token = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    blocked = {"bucket": "b", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
               "restrictPublicBuckets": True}
    assert check_resource(token, blocked) == []
    [finding] = check_resource(token, {**blocked, "blockPublicPolicy": False, "restrictPublicBuckets": None})
    assert finding.rule == "s3-public-access" and "blockPublicPolicy, restrictPublicBuckets" in finding.message


def task_definition(*environment: dict, secrets: list | None = None) -> dict:
    container = {"name": "app", "image": "python:3.12", "environment": list(environment), "secrets": secrets or []}
    return {"family": "app", "cpu": "256", "memory": "512", "containerDefinitions": json.dumps([container])}


def test_task_definition_with_plaintext_secrets_is_an_error():
    token = "aws:ecs/taskDefinition:TaskDefinition"
    for name in ("DB_PASSWORD", "API_KEY", "GITHUB_TOKEN", "aws_secret_access_key", "KEY"):
        [finding] = check_resource(token, task_definition({"name": name, "value": "hunter2"}))
        assert finding.rule == "plaintext-secret" and name in finding.message and "use secrets" in finding.message
    harmless = task_definition({"name": "LOG_LEVEL", "value": "info"}, {"name": "KEYBOARD_LAYOUT", "value": "us"},
                               {"name": "DB_PASSWORD", "value": ""},
                               secrets=[{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:..."}])
    assert check_resource(token, harmless) == []
    assert check_resource(token, {"containerDefinitions": "[secret]"}) == []  # redacted by the plan: unreadable


# --- Azure ----------------------------------------------------------------------------------------------

def azure_rule(**overrides: object) -> dict:
    return {"name": "ssh", "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "priority": 100.0,
            "sourceAddressPrefix": "*", "destinationPortRange": "22", **overrides}


def test_azure_security_group_rules():
    def nsg(**overrides: object) -> list[tuple[str, str]]:
        return rules(check_resource(NSG, {"securityRules": [azure_rule(**overrides)]}))

    assert nsg() == [("ssh-world-open", "error")]
    assert nsg(sourceAddressPrefix="Internet", destinationPortRange="20-30") == [("ssh-world-open", "error")]
    assert nsg(description=WORLD_MARKER) == [("ssh-world-open", "warning")]
    assert nsg(destinationPortRange="443") == [("world-open-ingress", "warning")]
    assert nsg(sourceAddressPrefix="198.51.100.0/24") == []
    assert nsg(direction="Outbound") == []
    assert nsg(access="Deny") == []
    assert rules(check_resource("azure-native:network:SecurityRule", azure_rule())) == [("ssh-world-open", "error")]


@pytest.mark.parametrize("world", ["*", "0.0.0.0/0", "Internet", "internet"])
def test_an_azure_rule_open_to_the_world_through_its_prefixes_list_is_caught(world: str) -> None:
    rule = {key: value for key, value in azure_rule().items() if key != "sourceAddressPrefix"}
    prefixes = {"sourceAddressPrefixes": ["198.51.100.0/24", world]}
    assert rules(check_resource(NSG, {"securityRules": [{**rule, **prefixes}]})) == [("ssh-world-open", "error")]
    assert rules(check_resource(NSG, {"securityRules": [{**rule, **prefixes, "destinationPortRange": None,
                                                         "destinationPortRanges": ["443", "20-23"]}]})) == [
        ("ssh-world-open", "error")]


def test_azure_storage_account_https_only():
    token = "azure-native:storage:StorageAccount"
    assert check_resource(token, {"kind": "StorageV2"}) == []  # the default is HTTPS only
    assert rules(check_resource(token, {"kind": "StorageV2", "enableHttpsTrafficOnly": False})) == [
        ("azure-https-only", "error")]
    assert rules(check_resource(token, {"kind": "FileStorage", "enableHttpsTrafficOnly": False})) == [
        ("azure-https-only", "warning")]  # NFS shares need it off


def test_types_without_rules_have_no_findings():
    assert check_resource("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}) == []


# --- the spec -------------------------------------------------------------------------------------------

def aws_spec(**sections: object) -> dict[str, object]:
    return {"name": "hpc", "target": "aws", "region": "us-east-1", "ssh": {"allowed_cidr": "198.51.100.0/24"},
            "head": {"instance_type": "c5n.large"}, "compute": {"instance_type": "c5n.18xlarge", "networking": "rdma"},
            **sections}


def refusal(spec: dict[str, object]) -> str:
    """The one line a spec is refused with as it loads."""
    with pytest.raises(SpecError) as refused:
        validate(spec)
    return str(refused.value)


def test_example_specs_pass():
    assert spec_findings(load_spec_file(ROOT / "examples/specs/aws-hpc.yaml")) == []
    assert spec_findings(load_spec_file(ROOT / "examples/specs/azure-hpc.yaml")) == []
    assert spec_findings(Environment.local_default()) == []


def test_spec_rules_refuse_the_spec_as_it_loads_and_leave_warnings_to_plan():
    assert spec_findings(validate(aws_spec())) == []
    assert refusal(aws_spec(compute={"instance_type": "t3.micro", "networking": "efa"})).startswith(
        "spec error: compute.instance_type: t3.micro has no EFA, so networking: rdma cannot work; ")
    assert refusal(aws_spec(ssh={"allowed_cidr": "0.0.0.0/0"})).startswith(
        "spec error: ssh.allowed_cidr: SSH ingress from 0.0.0.0/0 is open to the whole internet; ")
    assert rules(spec_findings(validate(aws_spec(ssh={"allowed_cidr": "0.0.0.0/0", "allow_world": True})))) == [
        ("ssh-world-open", "warning")]
    plain = aws_spec(storage={"volumes": [{"name": "scratch", "size_gb": 10, "mount": "/scratch", "encrypted": False}]})
    assert refusal(plain) == "spec error: storage.volumes[0]: volume scratch is not encrypted at rest; remove " \
                             "encrypted: false"
    secret = aws_spec(containers={"image": "python:3.12", "environment": {"DB_PASSWORD": "x", "MODE": "fast"}})
    assert refusal(secret).startswith("spec error: containers.environment.DB_PASSWORD: DB_PASSWORD looks like a "
                                      "secret given in plain text")
    typo = validate(aws_spec(head={"instance_type": "c5n.lrage"}))
    assert [(f.rule, f.severity, f.resource) for f in spec_findings(typo)] == [
        ("unknown-instance-type", "warning", "head.instance_type")]


def test_security_module_imports_only_the_standard_library():
    """The policy pack runs it in a venv holding only pulumi-policy."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import components.security; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pulumi', 'yaml'}), "
            "sorted(m for m in sys.modules if m.split('.')[0] == 'spec'))")
    result = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    # the spec modules it reads its rules from are standard library only too
    assert result.stdout.strip() == "[] ['spec', 'spec.findings', 'spec.secret_names', 'spec.ssh_networks']"


# --- Azure sizes, judged from the spec the way the components refuse them ---------------------------------

def azure_spec(**sections: object) -> dict[str, object]:
    return {"name": "hpc", "target": "azure", "region": "westeurope", "ssh": {"allowed_cidr": "198.51.100.0/24"},
            "head": {"instance_type": "Standard_D4s_v5"},
            "compute": {"instance_type": "Standard_HB120rs_v3", "networking": "rdma"}, **sections}


def test_azure_sizes_are_judged_as_the_spec_loads():
    assert spec_findings(validate(azure_spec())) == []
    rdma = refusal(azure_spec(compute={"instance_type": "Standard_D16s_v5", "networking": "rdma"}))
    assert rdma.startswith("spec error: compute.instance_type: Standard_D16s_v5 has no InfiniBand")
    assert "series HB" in rdma and "Standard_HB120rs_v3" in rdma
    enhanced = refusal(azure_spec(compute={"instance_type": "Standard_B2s", "networking": "enhanced"}))
    assert enhanced.startswith("spec error: compute.instance_type: Standard_B2s has no accelerated networking")
    typo = refusal(azure_spec(compute={"instance_type": "Standard_HB120rs_v9", "networking": "rdma"},
                              head={"instance_type": "Standard_D4s_v9"}))
    assert typo.startswith("spec error: compute.instance_type: unknown Azure VM size Standard_HB120rs_v9; did you "
                           "mean Standard_HB120rs_v3")
    warned = validate(azure_spec(head={"instance_type": "Standard_D4s_v9"}))
    assert [(f.rule, f.severity, f.resource) for f in spec_findings(warned)] == [
        ("unknown-vm-size", "warning", "head.instance_type")]
    # an EC2 type is not an Azure size: judged against the Azure table, not the AWS one
    assert rules(spec_findings(validate(azure_spec(head={"instance_type": "c5n.large"})))) == [
        ("unknown-vm-size", "warning")]


def test_azure_unencrypted_volume_is_refused_with_the_line_the_storage_component_refuses_with():
    volumes = [{"name": "scratch", "size_gb": 10, "mount": "/scratch", "encrypted": False}]
    [finding] = check_disk_encryption(Environment.model_validate({"storage": {"volumes": volumes}}).storage.volumes)
    assert refusal(azure_spec(storage={"volumes": volumes})) == f"spec error: {finding.resource}: {finding.message}"
    assert "Azure managed disks cannot honour" in finding.message


def test_machine_rules_live_in_the_spec_with_their_dated_tables():
    assert VM_SIZES.name == "vm_sizes.json" and json.loads(VM_SIZES.read_text())["_source"]["taken"]
    assert accelerated_networking("Standard_D4s_v5") and not accelerated_networking("Standard_A8_v2")
    assert CAPABILITIES.parent == VM_SIZES.parent == ROOT / "spec"
    assert not (ROOT / "components/azure/vm_sizes.json").exists()
    assert not (ROOT / "components/aws/instance_capabilities.json").exists()


SGR = "aws:ec2/securityGroupRule:SecurityGroupRule"
GROUP = "azure-native:containerinstance:ContainerGroup"
INSTANCE, TEMPLATE = "aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
_BROAD = ("is broader than /8 (IPv6 /32); allow only the network you connect from (a rule the spec opened on "
          f"purpose says '{BROAD_MARKER}')")
_WORLD_SSH = ("SSH (port 22) ingress from 0.0.0.0/0 is open to the whole internet; allow only the network you connect "
              f"from (a rule opened by ssh.allow_world says '{WORLD_MARKER}')")
_KEY_REMEDY = ("readable by anyone allowed to describe the node; keep it in the cloud's secret store and fetch it at "
               "boot (components/boot/node_secrets.py)")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


_PLAIN_ACI = "as a plain environment value, readable by anyone who can read the container group; use secure_value"
_PLAIN_ECS = ("as a plain environment value, readable by anyone who can describe the task definition; use secrets "
              "(valueFrom Secrets Manager or SSM Parameter Store)")


@pytest.mark.parametrize(("type_token", "props", "expected"), [
    ("aws:ebs/volume:Volume", {"encrypted": True}, []),
    ("aws:ebs/volume:Volume", {"encrypted": False}, [
        ("ebs-unencrypted", "error", "the EBS volume is not encrypted at rest; set encrypted=True")]),
    (SGR, {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["::/0"]}, [
        ("ssh-world-open", "error", "SSH (port 22) ingress from ::/0 is open to the whole internet; allow only the "
                                    "network you connect from (a rule opened by ssh.allow_world says "
                                    f"'{WORLD_MARKER}')")]),
    (SGR, {"type": "ingress", "protocol": "tcp", "fromPort": 80, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}, [
        ("world-open-ingress", "warning", "ingress from 0.0.0.0/0 to ports 80-443/tcp is open to the whole internet")]),
    (SGR, {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"],
           "description": f"ssh ({WORLD_MARKER})"}, [
        ("ssh-world-open", "warning", "SSH ingress from 0.0.0.0/0 is open to the whole internet (ssh.allow_world is "
                                      "set)")]),
    ("aws:s3/bucketAcl:BucketAcl", {"acl": "public-read"}, [
        ("s3-public-acl", "error", "the bucket ACL grants access to everyone (or every AWS account); use "
                                   "acl='private' and grant access with IAM policies")]),
    ("aws:ecs/taskDefinition:TaskDefinition", {"containerDefinitions": json.dumps([
        {"name": "app", "environment": [{"name": "DB_PASSWORD", "value": "x"}]},
        {"environment": [{"name": "API_TOKEN", "value": "y"}, {"value": "z"}]}])}, [
        ("plaintext-secret", "error", f"container app gets DB_PASSWORD {_PLAIN_ECS}"),
        ("plaintext-secret", "error", f"container ? gets API_TOKEN {_PLAIN_ECS}")]),
    ("azure-native:storage:StorageAccount", {"enableHttpsTrafficOnly": False, "isNfsV3Enabled": True}, [
        ("azure-https-only", "warning", "HTTPS-only is off, as NFS needs; NFS has no encryption in transit, so keep "
                                        "the account reachable only from the cluster's virtual network")]),
    (GROUP, {"ipAddress": {"type": "Public"}, "containers": [
        {"name": "job", "environmentVariables": [{"name": "DB_PASSWORD", "value": "x"}]},
        {"environmentVariables": [{"name": "API_TOKEN", "value": "y"}, {"value": "z"}]}]}, [
        ("public-container-group", "error", "the container group has a public IP address; give it subnet_ids in the "
                                            "environment's virtual network and ip_address type Private"),
        ("plaintext-secret", "error", f"container job gets DB_PASSWORD {_PLAIN_ACI}"),
        ("plaintext-secret", "error", f"container ? gets API_TOKEN {_PLAIN_ACI}")]),
    (GROUP, {"ipAddress": {"type": "Private"}}, []),
    (INSTANCE, {"metadataOptions": {"httpTokens": "optional"}, "userData": f"#!/bin/sh\n{KEY}",
                "rootBlockDevice": {"encrypted": False},
                "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": False}, {"encrypted": "false"},
                                    {"deviceName": "/dev/sdg", "encrypted": True}]}, [
        ("imdsv2-required", "error", "instance metadata accepts IMDSv1 (httpTokens=optional), which SSRF can reach; "
                                     "set metadata_options http_tokens='required'"),
        ("key-in-boot-data", "error", f"the user data holds a private key, {_KEY_REMEDY}"),
        ("ebs-unencrypted", "error", "root volume is not encrypted at rest (unset follows the AMI and the account "
                                     "default, which this rule cannot see); set root_block_device encrypted=True"),
        ("ebs-unencrypted", "error", "EBS volume /dev/sdf is not encrypted at rest; set encrypted=True"),
        ("ebs-unencrypted", "error", "EBS volume ? is not encrypted at rest; set encrypted=True")]),
    # an instance's user data is the text itself: base64 there is not a key
    (INSTANCE, {"metadataOptions": {"httpTokens": "required"}, "userData": _b64(KEY),
                "rootBlockDevice": {"encrypted": True}}, []),
    (TEMPLATE, {"userData": _b64(KEY)}, [
        ("imdsv2-required", "error", "instance metadata accepts IMDSv1 (httpTokens=unset), which SSRF can reach; "
                                     "set metadata_options http_tokens='required'"),
        ("key-in-boot-data", "error", f"the user data holds a private key, {_KEY_REMEDY}"),
        ("ebs-unencrypted", "error", "no block device mapping encrypts the root volume (it would follow the AMI and "
                                     "the account default); map the root device with ebs encrypted='true'")]),
    (TEMPLATE, {"metadataOptions": {"httpTokens": "required"}, "userData": f"#!/bin/sh\n{KEY}",
                "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}},
                                        {"deviceName": "/dev/xvdc"}, {"ebs": {"encrypted": "true"}},
                                        {"ebs": {"volumeSize": 8}}]}, [
        ("key-in-boot-data", "error", f"the user data holds a private key, {_KEY_REMEDY}"),
        ("ebs-unencrypted", "error", "EBS volume /dev/xvda is not encrypted at rest; set ebs encrypted='true'"),
        ("ebs-unencrypted", "error", "EBS volume ? is not encrypted at rest; set ebs encrypted='true'")]),
    (SGR, {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22,
           "cidrBlocks": ["10.0.0.0/24", None, "10.1.2.3/4"]}, [
        ("ssh-broad-open", "error", f"SSH (port 22) ingress from 10.1.2.3/4 {_BROAD}")]),
    (SGR, {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["2001:db8::/16"],
           "description": f"ssh ({BROAD_MARKER})"}, [
        ("ssh-broad-open", "warning", "SSH ingress from 2001:db8::/16 is broader than /8 (IPv6 /32), as the spec "
                                      "allowed")]),
    *[(SGR, {"type": "ingress", "cidrBlocks": ["0.0.0.0/0"], **ports}, [("ssh-world-open", "error", _WORLD_SSH)])
      for ports in ({"protocol": "-1.0"}, {"protocol": "ALL", "fromPort": 0, "toPort": 0},
                    {"protocol": "6", "toPort": 22}, {"protocol": "6.0", "fromPort": 22})],
    (SGR, {"type": "ingress", "protocol": "tcp", "fromPort": 23, "cidrBlocks": ["0.0.0.0/0"]}, [
        ("world-open-ingress", "warning", "ingress from 0.0.0.0/0 to ports 23-?/tcp is open to the whole internet")]),
    (SGR, {"type": "ingress", "protocol": "udp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/7"]}, []),
    ("aws:ec2/securityGroup:SecurityGroup", {"ingress": [
        {"protocol": "tcp", "fromPort": 80, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": "tcp", "fromPort": 20, "toPort": 30, "cidrBlocks": ["10.0.0.0/7"]},
        {"protocol": "tcp", "fromPort": 10, "toPort": 21, "cidrBlocks": ["10.0.0.0/7"]}]}, [
        ("world-open-ingress", "warning", "ingress from 0.0.0.0/0 to ports 80-443/tcp is open to the whole internet"),
        ("ssh-broad-open", "error", f"SSH (port 22) ingress from 10.0.0.0/7 {_BROAD}")]),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"blockPublicAcls": True}, [
        ("s3-public-access", "error", "the public access block leaves blockPublicPolicy, ignorePublicAcls, "
                                      "restrictPublicBuckets off (unset means off); set all four to True")]),
    ("azure-native:network:NetworkSecurityGroup", {"securityRules": [
        {"direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "Internet",
         "destinationPortRanges": ["22", "80"]},
        {"direction": "Inbound", "access": "Allow", "protocol": "Udp", "sourceAddressPrefix": "*",
         "destinationPortRanges": ["53", "80-90"]},
        {"access": "Allow", "sourceAddressPrefix": "*", "destinationPortRange": "*"},
        {"direction": "Inbound", "access": "Allow", "sourceAddressPrefixes": ["VirtualNetwork", "10.0.0.0/24",
                                                                               "20.0.0.0/6"],
         "destinationPortRange": "*"},
        {"direction": "Inbound", "access": "Allow", "protocol": "Udp", "sourceAddressPrefix": "Internet",
         "destinationPortRange": "22"}]}, [
        ("ssh-world-open", "error", _WORLD_SSH.replace("0.0.0.0/0", "Internet")),
        ("world-open-ingress", "warning", "ingress from * to ports 53, 80-90 is open to the whole internet"),
        ("ssh-broad-open", "error", f"SSH (port 22) ingress from 20.0.0.0/6 {_BROAD}"),
        ("world-open-ingress", "warning", "ingress from Internet to ports 22 is open to the whole internet")]),
    (SGR, {"type": "ingress", "protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["not-a-network"]}, []),
    # gzip-compressed user data is not text: read, not refused
    (TEMPLATE, {"metadataOptions": {"httpTokens": "required"},
                "userData": base64.b64encode(gzip.compress(b"#cloud-config\n")).decode(),
                "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}, []),
    # plain text whose base64 letters happen to decode: still the text that is read
    (TEMPLATE, {"metadataOptions": {"httpTokens": "required"}, "userData": f"#!/bin/sh\n{KEY}#AAA",
                "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}, [
        ("key-in-boot-data", "error", f"the user data holds a private key, {_KEY_REMEDY}")]),
    ("azure-native:storage:StorageAccount", {"enableHttpsTrafficOnly": False}, [
        ("azure-https-only", "error", "the storage account accepts plain HTTP; set enable_https_traffic_only=True")]),
    ("azure-native:compute:VirtualMachine", {"osProfile": {"customData": _b64(KEY)}}, [
        ("key-in-boot-data", "error", f"the custom data holds a private key, {_KEY_REMEDY}")]),
    ("azure-native:compute:VirtualMachineScaleSet", {"virtualMachineProfile": {"osProfile": {"customData": _b64(KEY)}}},
     [("key-in-boot-data", "error", f"the custom data holds a private key, {_KEY_REMEDY}")]),
], ids=["ebs-encrypted", "ebs-plain", "sgr-ipv6-ssh", "sgr-web", "sgr-marked-ssh", "acl", "task-definition",
        "nfs-account", "container-group", "private-group", "instance-plain", "instance-base64-is-text",
        "template-base64-key", "template-plain-key", "sgr-broad-after-narrow", "sgr-broad-marked-v6",
        "sgr-every-protocol", "sgr-all", "sgr-6-up-to-22", "sgr-6.0-from-22", "sgr-web-open-end", "sgr-udp-22",
        "group-rules", "public-access-block", "nsg-rules", "sgr-not-a-network", "template-gzip",
        "template-decodable-text", "https-only", "vm-custom-data", "scale-set-custom-data"])
def test_each_rule_says_what_it_found_where_and_how_bad(type_token: str, props: dict[str, object],
                                                         expected: list[tuple[str, str, str]]) -> None:
    """Rule, severity, resource and message of the findings users meet most, exactly (messages are user-facing)."""
    found = check_resource(type_token, props, "the-resource")
    assert [(f.rule, f.severity, f.resource, f.message) for f in found] == [
        (rule, severity, "the-resource", message) for rule, severity, message in expected]


@pytest.mark.parametrize(("cidr", "marker"), [("198.51.100.0/24", ""), ("10.1.2.3/4", f" ({BROAD_MARKER})"),
                                              ("0.0.0.0/0", f" ({WORLD_MARKER})")])
def test_a_network_component_marks_only_the_ssh_rules_the_spec_opened_wide(cidr: str, marker: str) -> None:
    assert ssh_marker(cidr) == marker
