"""The boot script every cluster node runs once, rendered from its ``BootConfig``: cloud-init runs it from the
cloud-config (cloud_config.py), the local target inside each node, in the background, as cloud-init would.

It prepares what ``ansible/boot.sh`` needs (munge key, the roles, the variables file ``ansible/site.yml``
documents, rendered by ``ansible_vars`` and nowhere else) and then runs it, so Slurm is configured in one place
for every target. Before each step it says which in the status file (status.py); whichever step fails, the node
ends "failed" at that step, with its log. On clouds it first fetches the munge key and the host private key from
the cloud's secret store (node_secrets.py) and only then starts sshd: the script itself holds no secret.
"""

from __future__ import annotations

import json
import shlex

from components.boot import node_secrets
from components.boot.cloud_files import VARIABLES_END
from components.boot.config import AwsSecret, BootConfig, MungeKeyFile, S3Bundle
from spec.boot_status import BOOT_LOG, STATUS_DIR, writer_sh

STAGE = "/run/cloud-hpc-toolkit"  # tmpfs: a staged munge key never reaches a disk
# root's alone (0700), on disk: what a node's restart must not take (/run is tmpfs). Its parent stays 0755, as the
# storage role's TLS tunnel (not root) enters its folder there; not /var/lib/cloud-hpc-toolkit, the local target's
# state folder on this machine, which its nodes see as it is
CONFIG_DIR = "/etc/cloud-hpc-toolkit"
KEPT = f"{CONFIG_DIR}/boot"
BOOT_VARS = f"{KEPT}/boot-vars.json"  # what the node booted with: `invoke scale` renders the slurm role from it
IMDS = "169.254.169.254"
BUNDLE_DEADLINE = 300  # seconds: a new instance profile can take a while to reach the instance
NODE_SECRETS = f"{STAGE}/node_secrets.py"  # components/boot/node_secrets.py, as the cloud-config writes it
HOST_KEY, FETCHED_MUNGE_KEY = f"/{node_secrets.HOST_KEY}", f"/{node_secrets.MUNGE_KEY}"  # where the fetch writes
NODE_NAME, HEAD_ADDRESS = "@NODE_NAME@", "@HEAD_ADDRESS@"  # filled in on the node
# The steps a node reports, in the order they run (those a config does not need are left out).
STARTING = "starting"
RESTRICTING_IMDS = "restricting instance metadata to root"
AUTHORIZING = "authorizing the SSH user"
FETCHING_SECRETS = "fetching the munge key and host key"
STARTING_SSHD = "starting sshd with the pinned host key"
NAMING = "naming this node and its head"
FETCHING = "fetching the ansible bundle"
CONFIGURING = "configuring this node"
FINISHED = "finished"


def ansible_vars(config: BootConfig) -> dict[str, object]:
    """The variables ``ansible/site.yml`` reads, as the node's variables file holds them (the node puts in its
    own name and the head's address at boot)."""
    munge = config.munge_key
    return {
        "cluster_name": config.cluster_name, "node_name": NODE_NAME, "node_role": config.role,
        "head_name": config.head_name, "head_address": HEAD_ADDRESS,
        "compute_nodes": [{"name": node.name, "address": node.address} for node in config.compute_nodes],
        "munge_key_src": munge.path if isinstance(munge, MungeKeyFile) else FETCHED_MUNGE_KEY,
        "service_manager": config.service_manager, "install_packages": config.install_packages,
        **config.tunables,
    }


def _skipped(config: BootConfig) -> str:
    """The roles' package tasks (tagged ``packages``) left out of the play where the image has the packages: each
    task a play holds costs a node's start what a run one does, even when its ``when`` skips it."""
    return "" if config.install_packages else " --skip-tags packages"


def boot_script(config: BootConfig) -> str:
    """One POSIX sh script configuring a node of ``config.role``; its output goes to the root-only boot log."""
    parts = [_prologue(config)]
    if config.cloud_instance:
        parts.append(_restrict_imds(config.imds_users))
    if config.login is not None:
        parts.append(_authorize(config.login.user, config.login.authorized_key.strip()))
    if config.host_public_key is not None:
        parts.append(_secrets(config, config.host_public_key))
    parts.append(_names(config))
    if isinstance(config.bundle, S3Bundle):
        parts.append(_fetch(config.bundle))
    where = config.bundle.into if isinstance(config.bundle, S3Bundle) else config.bundle.path
    parts.append(f"""begin {_q(CONFIGURING)}
cat > {BOOT_VARS} <<'{VARIABLES_END}'
{json.dumps(ansible_vars(config), indent=2, sort_keys=True)}
{VARIABLES_END}
sed -i -e "s/{NODE_NAME}/$node_name/" -e "s/{HEAD_ADDRESS}/$head_address/" {BOOT_VARS}
chmod 0600 {BOOT_VARS}
log {_q(f"running {where}/boot.sh")}
(umask 022 && sh {_q(where + "/boot.sh")} {BOOT_VARS}{_skipped(config)})  # the roles' files and daemons: usual umask
step={_q(FINISHED)}
boot_status done "$step"
log "done: {config.role} node $node_name of cluster {config.cluster_name}"
""")
    return "".join(parts)


def _q(text: str) -> str:
    return shlex.quote(text)


def _prologue(config: BootConfig) -> str:
    """Log, status, and the exit trap that removes what was staged and turns any failing command into "failed at
    <step>"."""
    staged = [] if isinstance(config.munge_key, MungeKeyFile) else [FETCHED_MUNGE_KEY, NODE_SECRETS]
    staged += [f"{STAGE}/bundle.zip"] if isinstance(config.bundle, S3Bundle) else []
    cleanup = f"\n    rm -f {' '.join(staged)}" if staged else ""  # whether the step that staged them ended or not
    return f"""#!/bin/sh
# cloud-hpc-toolkit: boot the {config.role} node of cluster {config.cluster_name} (components/boot/script.py).
set -eu
umask 077
mkdir -p {STATUS_DIR} {STAGE} {KEPT}
chmod 0755 {STATUS_DIR} {CONFIG_DIR}
chmod 0700 {STAGE} {KEPT}
printf 'cloud-hpc-toolkit boot: logging to %s\\n' {BOOT_LOG}
exec >> {BOOT_LOG} 2>&1
chmod 0600 {BOOT_LOG}
{writer_sh()}log() {{ printf '%s cloud-hpc-toolkit boot: %s\\n' "$(date -u +%FT%TZ)" "$*"; }}
fail() {{ log "FAILED: $*"; exit 1; }}
begin() {{ step=$1; log "$1"; boot_status running "$1"; }}
on_exit() {{
    code=$?{cleanup}
    [ "$code" -eq 0 ] || {{ log "failed at '$step' (exit $code)"; boot_status failed "$step"; }}
}}
step={_q(STARTING)}
trap on_exit EXIT
trap 'exit 143' HUP INT TERM
begin "$step"
"""


def fetch_arguments(config: BootConfig) -> list[str]:
    """node_secrets.py's command line (after its options) fetching this node role's secret."""
    secret = config.munge_key
    if isinstance(secret, AwsSecret):
        return ["aws", "--secret-id", secret.arn, "--region", secret.region, "--endpoint", secret.endpoint]
    if isinstance(secret, MungeKeyFile):
        raise ValueError(f"boot of a {config.role} node: a munge key file is not fetched")
    return ["azure", "--vault-url", secret.vault_url, "--name", secret.name, "--client-id", secret.client_id]


def _secrets(config: BootConfig, public_key: str) -> str:
    """Fetch the secret (munge key staged on tmpfs, host private key where sshd reads it), then start sshd. Until
    then sshd has no host key at all (the cloud-config deletes the image's and generates none), so a connection
    made meanwhile is refused, and retried, never met by another key (readiness never retries a mismatch)."""
    fetch = " ".join(_q(part) for part in ["python3", NODE_SECRETS, *fetch_arguments(config)])
    return f"""begin {_q(FETCHING_SECRETS)}
{fetch}
begin {_q(STARTING_SSHD)}
printf '%s\\n' {_q(public_key.strip())} > {HOST_KEY}.pub
chmod 0644 {HOST_KEY}.pub
systemctl reset-failed ssh.service ssh.socket 2>/dev/null || true
if systemctl is-enabled --quiet ssh.socket 2>/dev/null; then systemctl restart ssh.socket  # Ubuntu 24.04
else systemctl restart ssh.service; fi
"""


def _authorize(user: str, key: str) -> str:
    return f"""begin {_q(AUTHORIZING)}
id -u {_q(user)} >/dev/null 2>&1 || useradd -m -s /bin/bash {_q(user)}
home=$(getent passwd {_q(user)} | cut -d: -f6)
install -d -m 0700 -o {_q(user)} -g "$(id -gn {_q(user)})" "$home/.ssh"
touch "$home/.ssh/authorized_keys"
grep -qxF {_q(key)} "$home/.ssh/authorized_keys" || printf '%s\\n' {_q(key)} >> "$home/.ssh/authorized_keys"
chown {_q(user)} "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
printf '%s ALL=(ALL) NOPASSWD:ALL\\n' {_q(user)} > /etc/sudoers.d/90-cloud-hpc-toolkit
chmod 0440 /etc/sudoers.d/90-cloud-hpc-toolkit
"""


def _names(config: BootConfig) -> str:
    """This node's Slurm name (its hostname; the head's is set on clouds) and the head's address."""
    head = config.head_name
    found = _q(config.head_address) if config.head_address else "$(hostname -I | awk '{print $1}')"
    text = f"""begin {_q(NAMING)}
node_name=$(hostname -s)
"""
    if config.name_tag is not None:
        text += _name_from_tag(config.name_tag)
    text += f"""head_address={found}
case "$head_address" in ''|*[!0-9.]*) fail "head address '$head_address' is not an IPv4 address" ;; esac
"""
    if config.cloud_instance:
        if config.role == "head":
            text += f"""hostnamectl set-hostname {_q(head)} 2>/dev/null || hostname {_q(head)}
node_name={_q(head)}
mkdir -p /etc/cloud/cloud.cfg.d
printf 'preserve_hostname: true\\n' > /etc/cloud/cloud.cfg.d/99-cloud-hpc-toolkit.cfg
"""
        text += f"""grep -qE "^$head_address[[:space:]]+{head}( |\\$)" /etc/hosts ||
    printf '%s %s\\n' "$head_address" {_q(head)} >> /etc/hosts
"""
    return text + """case "$node_name" in
    ''|*[!A-Za-z0-9-]*) fail "hostname '$node_name' is not a valid Slurm node name" ;;
esac
"""


def _name_from_tag(tag: str) -> str:
    """This node's name from its instance tag (IMDSv2: a session token first), made its hostname for good: the head
    launched the instance as that Slurm node, and slurmd finds itself in slurm.conf by hostname."""
    path = f"http://{IMDS}/latest/meta-data/tags/instance/{tag}"
    return f"""tries=0
until imds_token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://{IMDS}/latest/api/token) &&
      node_name=$(curl -sf -H "X-aws-ec2-metadata-token: $imds_token" {_q(path)}); do
    tries=$((tries + 1))
    [ "$tries" -lt 30 ] || fail {_q(f"no {tag} tag in the instance metadata: launch compute nodes from the head")}
    sleep 2
done
hostnamectl set-hostname "$node_name" 2>/dev/null || hostname "$node_name"
mkdir -p /etc/cloud/cloud.cfg.d
printf 'preserve_hostname: true\\n' > /etc/cloud/cloud.cfg.d/99-cloud-hpc-toolkit.cfg
grep -qE "[[:space:]]$node_name\\$" /etc/hosts ||
    printf '%s %s\\n' "$(hostname -I | awk '{{print $1}}')" "$node_name" >> /etc/hosts
"""


def _fetch(bundle: S3Bundle) -> str:
    """The bundle through node_secrets.py (a signed S3 GetObject): no AWS CLI on the image needed; retried while
    a new instance profile reaches the instance."""
    source = f"s3://{bundle.bucket}/{bundle.key}"
    download = " ".join(_q(part) for part in ["python3", NODE_SECRETS, "--deadline", str(BUNDLE_DEADLINE),
                                               "aws-object", "--url", bundle.url, "--region", bundle.region,
                                               "--out", f"{STAGE}/bundle.zip"])
    return f"""begin {_q(FETCHING)}
log {_q(f"downloading {source}")}
{download} || fail {_q(f"could not download {source}: check the instance role, network, bucket")}
rm -rf {_q(bundle.into)}
mkdir -p {_q(bundle.into)}
python3 -m zipfile -e {STAGE}/bundle.zip {_q(bundle.into)}
"""


def _restrict_imds(users: tuple[str, ...] = ()) -> str:
    """A firewall rule, kept across reboots by a oneshot unit, so only root (and ``users``) reach the metadata
    service: anyone else on the node could otherwise take the node's cloud credentials, hence the secret holding
    the munge key (root on every node). Each of ``users`` gets an ACCEPT rule ahead of the REJECT; it is created
    now (a system user, as its package would) so iptables can resolve its name before the package is installed."""
    rule = f"OUTPUT -d {IMDS}/32 -m owner ! --uid-owner 0 -j REJECT"
    command = f"iptables -w -C {rule} 2>/dev/null || iptables -w -I {rule}"
    create = ""
    for user in users:
        allow = f"OUTPUT -d {IMDS}/32 -m owner --uid-owner {user} -j ACCEPT"
        command += f"; iptables -w -C {allow} 2>/dev/null || iptables -w -I {allow}"
        create += (f"id -u {_q(user)} >/dev/null 2>&1 || useradd --system --user-group --home-dir /nonexistent "
                   f"--no-create-home --shell /usr/sbin/nologin {_q(user)}\n")
    return f"""begin {_q(RESTRICTING_IMDS)}
if ! command -v iptables >/dev/null 2>&1; then
    if command -v dnf >/dev/null 2>&1; then dnf -y -q install iptables-nft
    else apt-get -q update && apt-get -y -q install iptables; fi
fi
{create}cat > /etc/systemd/system/cloud-hpc-toolkit-imds.service <<'CHPC_UNIT_EOF'
[Unit]
Description=Only root may reach the instance metadata service (cloud-hpc-toolkit)
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c '{command}'

[Install]
WantedBy=multi-user.target
CHPC_UNIT_EOF
chmod 0644 /etc/systemd/system/cloud-hpc-toolkit-imds.service
systemctl daemon-reload
systemctl enable --now cloud-hpc-toolkit-imds.service
"""
