"""The resource-level security rules: components refuse with them, `invoke plan` reports with them, and the
policy pack in `policy/` exposes them to `pulumi preview --policy-pack`. The rules a spec is judged by as it loads
(SSH networks, machine capabilities) live in `spec/` (:mod:`spec.verdict`), below the components that use them.

Resource rules read the inputs as the provider receives them (camelCase wire names, numbers possibly as
floats). They accept any Mapping/Sequence because the policy pack hands them read-only proxies that raise
``UnknownValueError`` for values unknown during preview; that error is left to the policy framework.
Only the standard library is imported here (and spec modules that import only it), so the policy pack runs
without the project's dependencies.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spec.findings import Finding
from spec.secret_names import plaintext_secret_names
from spec.ssh_networks import SSH_MIN_PREFIX

# The Network component puts this in the description of an SSH rule it opened to the world because the
# spec said ssh.allow_world: a resource-level rule cannot see the spec, so this is how it learns.
WORLD_MARKER = "world-open by ssh.allow_world"
# The same for an SSH rule broader than SSH_MIN_PREFIX that the spec allowed (ssh.min_prefix or ssh.allow_world).
BROAD_MARKER = "broad by ssh.min_prefix or ssh.allow_world"
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers",
                   "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
AZURE_WORLD = ("*", "internet", "any", "0.0.0.0/0", "::/0")


class SecurityViolation(ValueError):
    """A component refused to declare something a rule forbids; the message says how to fix it."""


def refuse(findings: list[Finding]) -> None:
    """Raise for the first error; warnings pass (plan reports them)."""
    for finding in findings:
        if finding.severity == "error":
            raise SecurityViolation(finding.line())


# --- resource rules (camelCase inputs) ------------------------------------------------------------------

def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def _true(value: Any) -> bool:
    """A boolean input, which some schemas carry as a string (launch template EBS ``encrypted``)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _imds(props: Mapping[str, Any], resource: str) -> list[Finding]:
    tokens = _map(props.get("metadataOptions")).get("httpTokens")
    if tokens == "required":
        return []
    return [Finding("imdsv2-required", "error", resource,
                    f"instance metadata accepts IMDSv1 (httpTokens={tokens or 'unset'}), which SSRF can reach; "
                    "set metadata_options http_tokens='required'")]


def _boot_data_key(text: Any, what: str, resource: str, encoded: bool) -> list[Finding]:
    """A private key in user data or custom data, which whoever may describe the instance or read the VM's model
    reads (on AWS, ``ReadOnlyAccess``); an unknown (still computed) value cannot be checked."""
    if not isinstance(text, str):
        return []
    try:
        plain = _unpacked(base64.b64decode(text, validate=True)) if encoded else text
    except (ValueError, zlib.error):
        plain = text
    if "PRIVATE KEY-----" not in plain:
        return []
    return [Finding("key-in-boot-data", "error", resource,
                    f"the {what} holds a private key, readable by anyone allowed to describe the node; keep it in "
                    "the cloud's secret store and fetch it at boot (components/boot/node_secrets.py)")]


def _unpacked(data: bytes, most: int = 1 << 20) -> str:
    """Decoded custom data as cloud-init reads it: gunzipped when gzipped (Azure's is), at most ``most`` bytes."""
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompressobj(wbits=31).decompress(data, most)
    return data.decode(errors="replace")


def _instance(props: Mapping[str, Any], resource: str) -> list[Finding]:
    findings = _imds(props, resource) + _boot_data_key(props.get("userData"), "user data", resource, False)
    root = props.get("rootBlockDevice")
    if not _true(_map(root).get("encrypted")):
        findings.append(Finding("ebs-unencrypted", "error", resource,
                                "root volume is not encrypted at rest (unset follows the AMI and the account "
                                "default, which this rule cannot see); set root_block_device encrypted=True"))
    findings += [Finding("ebs-unencrypted", "error", resource,
                         f"EBS volume {_map(device).get('deviceName', '?')} is not encrypted at rest; "
                         "set encrypted=True")
                 for device in _seq(props.get("ebsBlockDevices")) if not _true(_map(device).get("encrypted"))]
    return findings


def _launch_template(props: Mapping[str, Any], resource: str) -> list[Finding]:
    findings = _imds(props, resource) + _boot_data_key(props.get("userData"), "user data", resource, True)
    volumes = [_map(mapping) for mapping in _seq(props.get("blockDeviceMappings")) if _map(mapping).get("ebs")]
    if not volumes:
        findings.append(Finding("ebs-unencrypted", "error", resource,
                                "no block device mapping encrypts the root volume (it would follow the AMI and "
                                "the account default); map the root device with ebs encrypted='true'"))
    findings += [Finding("ebs-unencrypted", "error", resource,
                         f"EBS volume {volume.get('deviceName', '?')} is not encrypted at rest; "
                         "set ebs encrypted='true'")
                 for volume in volumes if not _true(_map(volume.get("ebs")).get("encrypted"))]
    return findings


def _encrypted(rule: str, what: str) -> Callable[[Mapping[str, Any], str], list[Finding]]:
    def check(props: Mapping[str, Any], resource: str) -> list[Finding]:
        if _true(props.get("encrypted")):
            return []
        return [Finding(rule, "error", resource, f"{what} is not encrypted at rest; set encrypted=True")]

    return check


def _is_world(cidr: Any) -> bool:
    try:
        return isinstance(cidr, str) and ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _too_broad(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return network.prefixlen < SSH_MIN_PREFIX[0 if network.version == 4 else 1]


def ssh_marker(cidr: str) -> str:
    """What a network component appends to the description of its SSH rule from ``cidr`` when the spec opened it
    wider than :data:`SSH_MIN_PREFIX` (the component refuses to otherwise): the resource-level rules (policy pack,
    plan), which cannot see the spec, read it and warn instead of refusing."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.prefixlen == 0:
        return f" ({WORLD_MARKER})"
    return f" ({BROAD_MARKER})" if _too_broad(network) else ""


def _broad_ssh(resource: str, sources: Sequence[Any], description: Any) -> list[Finding]:
    """SSH ingress from a network broader than :data:`SSH_MIN_PREFIX` but not the whole internet (that is
    :func:`_world_open`'s): an error unless the description carries a component's marker."""
    broad = []
    for source in sources:
        try:
            network = ipaddress.ip_network(source, strict=False) if isinstance(source, str) else None
        except ValueError:  # an Azure service tag, a name
            continue
        if network is not None and network.prefixlen and _too_broad(network):
            broad.append(str(source))
    if not broad:
        return []
    if any(marker in str(description or "") for marker in (WORLD_MARKER, BROAD_MARKER)):
        return [Finding("ssh-broad-open", "warning", resource,
                        f"SSH ingress from {broad[0]} is broader than /{SSH_MIN_PREFIX[0]} "
                        f"(IPv6 /{SSH_MIN_PREFIX[1]}), as the spec allowed")]
    return [Finding("ssh-broad-open", "error", resource,
                    f"SSH (port 22) ingress from {broad[0]} is broader than /{SSH_MIN_PREFIX[0]} (IPv6 "
                    f"/{SSH_MIN_PREFIX[1]}); allow only the network you connect from (a rule the spec opened on "
                    f"purpose says '{BROAD_MARKER}')")]


def _reaches_ssh(protocol: Any, from_port: Any, to_port: Any) -> bool:
    protocol = str(protocol).lower()
    if protocol in ("-1", "-1.0", "all"):
        return True
    if protocol not in ("tcp", "6", "6.0"):
        return False
    low = 0 if from_port is None else float(from_port)
    high = 65535 if to_port is None else float(to_port)
    return low <= 22 <= high


def _port(value: Any) -> str:
    return "?" if value is None else str(int(float(value)))


def _world_open(resource: str, source: str, ssh: bool, ports: str, description: Any) -> list[Finding]:
    """Ingress from the whole internet: to SSH an error unless marked as asked for; to other ports a warning."""
    if ssh and WORLD_MARKER in str(description or ""):
        return [Finding("ssh-world-open", "warning", resource,
                        f"SSH ingress from {source} is open to the whole internet (ssh.allow_world is set)")]
    if ssh:
        return [Finding("ssh-world-open", "error", resource,
                        f"SSH (port 22) ingress from {source} is open to the whole internet; allow only the "
                        f"network you connect from (a rule opened by ssh.allow_world says '{WORLD_MARKER}')")]
    return [Finding("world-open-ingress", "warning", resource,
                    f"ingress from {source} to {ports} is open to the whole internet")]


def _ingress(resource: str, cidrs: Sequence[Any], protocol: Any, from_port: Any, to_port: Any,
             description: Any) -> list[Finding]:
    world = [cidr for cidr in cidrs if _is_world(cidr)]
    ssh = _reaches_ssh(protocol, from_port, to_port)
    if not world:
        return _broad_ssh(resource, cidrs, description) if ssh else []
    # every protocol reaches SSH, so a rule that is not SSH names its ports and protocol
    return _world_open(resource, world[0], ssh, f"ports {_port(from_port)}-{_port(to_port)}/{protocol}", description)


def _security_group(props: Mapping[str, Any], resource: str) -> list[Finding]:
    findings: list[Finding] = []
    for rule in map(_map, _seq(props.get("ingress"))):
        findings += _ingress(resource, [*_seq(rule.get("cidrBlocks")), *_seq(rule.get("ipv6CidrBlocks"))],
                             rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"), rule.get("description"))
    return findings


def _security_group_rule(props: Mapping[str, Any], resource: str) -> list[Finding]:
    if props.get("type") != "ingress":
        return []
    return _ingress(resource, [*_seq(props.get("cidrBlocks")), *_seq(props.get("ipv6CidrBlocks"))],
                    props.get("protocol"), props.get("fromPort"), props.get("toPort"), props.get("description"))


def _ingress_rule(props: Mapping[str, Any], resource: str) -> list[Finding]:
    return _ingress(resource, [props.get("cidrIpv4"), props.get("cidrIpv6")], props.get("ipProtocol"),
                    props.get("fromPort"), props.get("toPort"), props.get("description"))


def _bucket_acl(props: Mapping[str, Any], resource: str) -> list[Finding]:
    grants = _seq(_map(props.get("accessControlPolicy")).get("grants"))
    public = props.get("acl") in PUBLIC_ACLS or any(
        _map(_map(grant).get("grantee")).get("uri") in PUBLIC_GRANTEES for grant in grants)
    if not public:
        return []
    return [Finding("s3-public-acl", "error", resource,
                    "the bucket ACL grants access to everyone (or every AWS account); use acl='private' and "
                    "grant access with IAM policies")]


def _public_access_block(props: Mapping[str, Any], resource: str) -> list[Finding]:
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if not _true(props.get(flag))]
    if not off:
        return []
    return [Finding("s3-public-access", "error", resource,
                    f"the public access block leaves {', '.join(off)} off (unset means off); set all four to True")]


def _task_definition(props: Mapping[str, Any], resource: str) -> list[Finding]:
    raw = props.get("containerDefinitions")
    try:
        containers = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:  # a secret (redacted) or unknown definition: nothing to read
        return []
    findings = []
    for container in map(_map, _seq(containers)):
        entries = map(_map, _seq(container.get("environment")))
        variables = {entry.get("name", ""): entry.get("value") for entry in entries}
        findings += [Finding("plaintext-secret", "error", resource,
                             f"container {container.get('name', '?')} gets {name} as a plain environment value, "
                             "readable by anyone who can describe the task definition; use secrets (valueFrom "
                             "Secrets Manager or SSM Parameter Store)")
                     for name in plaintext_secret_names(variables)]
    return findings


def _has_port_22(port_range: str) -> bool:
    if port_range == "*":
        return True
    low, _, high = port_range.partition("-")
    return low.isdigit() and int(low) <= 22 <= int(high or low)


def _azure_rule(rule: Mapping[str, Any], resource: str) -> list[Finding]:
    if str(rule.get("direction", "")).lower() != "inbound" or str(rule.get("access", "")).lower() != "allow":
        return []
    sources = [rule.get("sourceAddressPrefix"), *_seq(rule.get("sourceAddressPrefixes"))]
    world = [str(source) for source in sources if str(source).lower() in AZURE_WORLD]
    ports = [str(port) for port in [rule.get("destinationPortRange"), *_seq(rule.get("destinationPortRanges"))]
             if port is not None]
    ssh = str(rule.get("protocol", "*")).lower() in ("*", "tcp") and any(map(_has_port_22, ports))
    if not world:
        return _broad_ssh(resource, sources, rule.get("description")) if ssh else []
    return _world_open(resource, world[0], ssh, f"ports {', '.join(ports)}", rule.get("description"))


def _azure_security_group(props: Mapping[str, Any], resource: str) -> list[Finding]:
    return [finding for rule in _seq(props.get("securityRules")) for finding in _azure_rule(_map(rule), resource)]


def _azure_storage_account(props: Mapping[str, Any], resource: str) -> list[Finding]:
    if props.get("enableHttpsTrafficOnly") is not False:  # unset is true since API version 2019-04-01
        return []
    if props.get("kind") == "FileStorage" or _true(props.get("isNfsV3Enabled")):
        return [Finding("azure-https-only", "warning", resource,
                        "HTTPS-only is off, as NFS needs; NFS has no encryption in transit, so keep the account "
                        "reachable only from the cluster's virtual network")]
    return [Finding("azure-https-only", "error", resource,
                    "the storage account accepts plain HTTP; set enable_https_traffic_only=True")]


def _azure_container_group(props: Mapping[str, Any], resource: str) -> list[Finding]:
    """No public IP address (the group belongs in a subnet of the environment's virtual network), and no
    secret-looking environment variable as a plain ``value`` (ARM returns those to anyone who may read it)."""
    findings: list[Finding] = []
    if str(_map(props.get("ipAddress")).get("type", "")).lower() == "public":
        findings.append(Finding("public-container-group", "error", resource,
                                "the container group has a public IP address; give it subnet_ids in the "
                                "environment's virtual network and ip_address type Private"))
    for container in map(_map, _seq(props.get("containers"))):
        variables = {entry.get("name", ""): entry.get("value")
                     for entry in map(_map, _seq(container.get("environmentVariables")))}
        findings += [Finding("plaintext-secret", "error", resource,
                             f"container {container.get('name', '?')} gets {name} as a plain environment value, "
                             "readable by anyone who can read the container group; use secure_value")
                     for name in plaintext_secret_names(variables)]
    return findings


def _azure_vm(props: Mapping[str, Any], resource: str) -> list[Finding]:
    return _boot_data_key(_map(props.get("osProfile")).get("customData"), "custom data", resource, True)


def _azure_scale_set(props: Mapping[str, Any], resource: str) -> list[Finding]:
    profile = _map(_map(props.get("virtualMachineProfile")).get("osProfile"))
    return _boot_data_key(profile.get("customData"), "custom data", resource, True)


RESOURCE_RULES: dict[str, Callable[[Mapping[str, Any], str], list[Finding]]] = {
    "aws:ec2/instance:Instance": _instance,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:ebs/volume:Volume": _encrypted("ebs-unencrypted", "the EBS volume"),
    "aws:efs/fileSystem:FileSystem": _encrypted("efs-unencrypted", "the EFS file system"),
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:ec2/securityGroupRule:SecurityGroupRule": _security_group_rule,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _ingress_rule,
    "aws:s3/bucketAcl:BucketAcl": _bucket_acl,
    "aws:s3/bucketAclV2:BucketAclV2": _bucket_acl,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access_block,
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "azure-native:network:NetworkSecurityGroup": _azure_security_group,
    "azure-native:network:SecurityRule": lambda props, resource: _azure_rule(props, resource),
    "azure-native:storage:StorageAccount": _azure_storage_account,
    "azure-native:containerinstance:ContainerGroup": _azure_container_group,
    "azure-native:compute:VirtualMachine": _azure_vm,
    "azure-native:compute:VirtualMachineScaleSet": _azure_scale_set,
}


def check_resource(type_token: str, props: Mapping[str, Any], resource: str | None = None) -> list[Finding]:
    """The rules for one resource's inputs; ``resource`` names it in the findings (default: the type)."""
    rule = RESOURCE_RULES.get(type_token)
    return rule(props, resource or type_token) if rule else []
