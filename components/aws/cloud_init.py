"""The boot script every cluster node runs once: cloud-init takes it as user data on AWS, and the local
target can run the very same script inside a node with the cloud-only steps switched off.

It prepares what ``ansible/boot.sh`` needs (munge key, the roles, the vars file ``ansible/site.yml``
documents) and then runs it, so Slurm is configured in one place for every target. The rendered script
holds the munge key and a host private key: whoever stores it must keep it secret.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

STAGE = "/run/cloud-hpc-toolkit"  # tmpfs: the staged munge key never reaches a disk
BUNDLE_DIR = "/opt/cloud-hpc-toolkit/ansible"
IMDS = "169.254.169.254"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")  # names that go into the script unquoted are these
# Variables the script owns; extra_vars may add tunables (slurm_cpus, mount_points, ...) but not replace these.
OWN_VARS = ("cluster_name", "node_name", "node_role", "head_name", "head_address", "compute_nodes",
            "munge_key_src", "service_manager", "install_packages")


@dataclass(frozen=True)
class BootSteps:
    """The steps only a cloud instance needs; all off, the script runs on a local-target node as is."""

    restrict_imds: bool = True     # only root may read instance metadata: the user data holds the munge key
    authorize_user: bool = True    # the SSH user exists, with the user's key and passwordless sudo
    install_host_key: bool = True  # the pinned ed25519 host key replaces the one the image generated
    restart_sshd: bool = True      # so sshd serves that key
    set_hostname: bool = True      # head: hostname = head_name (slurmctld checks it); all: head in /etc/hosts
    fetch_bundle: bool = True      # download the ansible/ bundle from S3 and unpack it into bundle_dir


def boot_script(*, role: str, cluster_name: str, bucket: str, key: str, region: str, head_name: str,
                head_address_hint: str | None, munge_key_b64: str, host_private_key: str, host_public_key: str,
                ssh_user: str, ssh_authorized_key: str, steps: BootSteps, bundle_dir: str = BUNDLE_DIR,
                service_manager: str = "systemd", install_packages: bool = True,
                extra_vars: Mapping[str, object] | None = None) -> str:
    """One POSIX sh script configuring a ``role`` node (head | compute) of the cluster.

    ``head_address_hint`` is the head's private address; a compute node needs it, the head (which
    cannot know its own address before it exists) leaves it None and finds it at boot. Compute nodes
    register with Slurm by themselves (``compute_nodes: []``), under their hostname.
    """
    if role not in ("head", "compute"):
        raise ValueError(f"boot script role {role!r}: allowed: head, compute")
    if role == "compute" and not head_address_hint:
        raise ValueError("boot script for a compute node: head_address_hint is required (the head's private IP)")
    if not munge_key_b64.strip():
        raise ValueError("boot script: munge_key_b64 is empty")
    if steps.fetch_bundle and not (bucket and key and region):
        raise ValueError("boot script: fetch_bundle needs bucket, key and region")
    if steps.install_host_key and not (host_private_key.strip() and host_public_key.strip()):
        raise ValueError("boot script: install_host_key needs the host key's private and public halves")
    if steps.authorize_user and not ssh_authorized_key.strip():
        raise ValueError("boot script: authorize_user needs the user's public key")
    for field, value in (("cluster_name", cluster_name), ("head_name", head_name), ("ssh_user", ssh_user)):
        if not NAME.fullmatch(value):
            raise ValueError(f"boot script: {field} = {value!r}: allowed: letters, digits, '-', '_' (a host name)")
    clashes = sorted(set(extra_vars or {}) & set(OWN_VARS))
    if clashes:
        raise ValueError(f"boot script: extra_vars may not set {', '.join(clashes)} (the script sets them)")

    q = shlex.quote
    variables = {
        "cluster_name": cluster_name, "node_name": "@NODE_NAME@", "node_role": role, "head_name": head_name,
        "head_address": "@HEAD_ADDRESS@", "compute_nodes": [], "munge_key_src": f"{STAGE}/munge.key",
        "service_manager": service_manager, "install_packages": install_packages, **(extra_vars or {}),
    }
    parts = [f"""#!/bin/sh
# cloud-hpc-toolkit: boot the {role} node of cluster {cluster_name} (rendered by components/aws/cloud_init.py).
# Holds the munge key and a host private key: secret in Pulumi state; on the node only root can read it.
set -eu
umask 077
log() {{ printf 'cloud-hpc-toolkit boot: %s\\n' "$*"; }}
fail() {{ log "FAILED: $*" >&2; exit 1; }}
mkdir -p {STAGE}
chmod 0700 {STAGE}
"""]
    if steps.restrict_imds:
        parts.append(_restrict_imds())
    if steps.authorize_user:
        parts.append(f"""log "authorizing SSH user {ssh_user}"
id -u {q(ssh_user)} >/dev/null 2>&1 || useradd -m -s /bin/bash {q(ssh_user)}
home=$(getent passwd {q(ssh_user)} | cut -d: -f6)
install -d -m 0700 -o {q(ssh_user)} -g "$(id -gn {q(ssh_user)})" "$home/.ssh"
touch "$home/.ssh/authorized_keys"
grep -qxF {q(ssh_authorized_key.strip())} "$home/.ssh/authorized_keys" ||
    printf '%s\\n' {q(ssh_authorized_key.strip())} >> "$home/.ssh/authorized_keys"
chown {q(ssh_user)} "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
printf '%s ALL=(ALL) NOPASSWD:ALL\\n' {q(ssh_user)} > /etc/sudoers.d/90-cloud-hpc-toolkit
chmod 0440 /etc/sudoers.d/90-cloud-hpc-toolkit
""")
    if steps.install_host_key:
        parts.append(f"""log "installing the pinned host key"
printf '%s\\n' {q(host_private_key.strip())} > /etc/ssh/ssh_host_ed25519_key
chmod 0600 /etc/ssh/ssh_host_ed25519_key
printf '%s\\n' {q(host_public_key.strip())} > /etc/ssh/ssh_host_ed25519_key.pub
chmod 0644 /etc/ssh/ssh_host_ed25519_key.pub
""")
    if steps.restart_sshd:
        parts.append('log "restarting sshd"\nsystemctl restart sshd 2>/dev/null || systemctl restart ssh\n')
    parts.append(f"""log "staging the munge key"
printf '%s' {q(munge_key_b64)} | base64 -d > {STAGE}/munge.key
chmod 0600 {STAGE}/munge.key
node_name=$(hostname -s)
case "$node_name" in ''|*[!A-Za-z0-9-]*) fail "hostname '$node_name' is not a valid Slurm node name" ;; esac
""")
    if head_address_hint:
        parts.append(f"head_address={q(head_address_hint)}\n")
    else:
        parts.append("head_address=$(hostname -I | awk '{print $1}')\n")
    parts.append("""case "$head_address" in
    ''|*[!0-9.]*) fail "head address '$head_address' is not an IPv4 address" ;;
esac
""")
    if steps.set_hostname:
        if role == "head":
            parts.append(f"""log "naming this host {head_name}"
hostnamectl set-hostname {q(head_name)} 2>/dev/null || hostname {q(head_name)}
node_name={q(head_name)}
mkdir -p /etc/cloud/cloud.cfg.d
printf 'preserve_hostname: true\\n' > /etc/cloud/cloud.cfg.d/99-cloud-hpc-toolkit.cfg
""")
        parts.append(f"""grep -qE "^$head_address[[:space:]]+{head_name}( |\\$)" /etc/hosts ||
    printf '%s %s\\n' "$head_address" {q(head_name)} >> /etc/hosts
""")
    if steps.fetch_bundle:
        source = f"s3://{bucket}/{key}"
        parts.append(f"""log {q(f"fetching the ansible bundle {source}")}
command -v aws >/dev/null 2>&1 || {{
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null
}} || fail "could not install the AWS CLI to fetch the bundle"
tries=0
until aws s3 cp --only-show-errors --region {q(region)} {q(source)} {STAGE}/bundle.zip; do
    tries=$((tries + 1))
    [ "$tries" -lt 30 ] || fail {q(f"could not download {source}: check the instance role, network, bucket")}
    sleep 10   # a new instance profile can take a while to reach the instance
done
rm -rf {q(bundle_dir)}
mkdir -p {q(bundle_dir)}
python3 -m zipfile -e {STAGE}/bundle.zip {q(bundle_dir)}
rm -f {STAGE}/bundle.zip
""")
    parts.append(f"""log "writing the node's variables"
cat > {STAGE}/boot-vars.json <<'CHPC_VARS_EOF'
{json.dumps(variables, indent=2, sort_keys=True)}
CHPC_VARS_EOF
sed -i -e "s/@NODE_NAME@/$node_name/" -e "s/@HEAD_ADDRESS@/$head_address/" {STAGE}/boot-vars.json
chmod 0600 {STAGE}/boot-vars.json
log {q(f"configuring this node with {bundle_dir}/boot.sh")}
sh {q(bundle_dir + "/boot.sh")} {STAGE}/boot-vars.json
rm -f {STAGE}/munge.key
log "done: {role} node $node_name of cluster {cluster_name}"
""")
    return "".join(parts)


def _restrict_imds() -> str:
    """A firewall rule, kept across reboots by a oneshot unit, so only root reaches the metadata service:
    anyone else on the node could otherwise read the user data, hence the munge key (root on every node)."""
    rule = f"OUTPUT -d {IMDS}/32 -m owner ! --uid-owner 0 -j REJECT"
    return f"""log "restricting the instance metadata service to root"
if ! command -v iptables >/dev/null 2>&1; then
    if command -v dnf >/dev/null 2>&1; then dnf -y -q install iptables-nft
    else apt-get -q update && apt-get -y -q install iptables; fi
fi
cat > /etc/systemd/system/cloud-hpc-toolkit-imds.service <<'CHPC_UNIT_EOF'
[Unit]
Description=Only root may reach the instance metadata service (cloud-hpc-toolkit)
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'iptables -w -C {rule} 2>/dev/null || iptables -w -I {rule}'

[Install]
WantedBy=multi-user.target
CHPC_UNIT_EOF
chmod 0644 /etc/systemd/system/cloud-hpc-toolkit-imds.service
systemctl daemon-reload
systemctl enable --now cloud-hpc-toolkit-imds.service
"""
