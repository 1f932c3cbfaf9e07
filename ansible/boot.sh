#!/bin/sh
# Configure this node with the toolkit's roles, on the node itself (connection local).
# Cloud-init runs it at first boot; the local target runs it inside each node's namespaces.
# Usage: boot.sh VARS.json [ansible-playbook options, e.g. --tags storage]   (the variables: see site.yml)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
vars=$1
shift
python=${CHPC_PYTHON:-/usr/bin/python3}
playbook=${CHPC_ANSIBLE_PLAYBOOK:-ansible-playbook}
if ! command -v "$playbook" >/dev/null 2>&1; then
    # A cloud image without Ansible: the distribution's ansible-core (Debian 12: 2.14, enough for these
    # roles), else the version the project pins, from PyPI.
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible-core >/dev/null
    else
        "$python" -m pip install --quiet 'ansible-core==2.19.14'
    fi
fi
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_LOCAL_TEMP=/tmp/.ansible-local \
       ANSIBLE_REMOTE_TEMP=/tmp/.ansible-remote ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
exec "$playbook" -i localhost, -c local -e "ansible_python_interpreter=$python" -e "@$vars" "$here/site.yml" "$@"
