"""The Slurm nodes' boot secrets on Azure: a Key Vault holding, per node role, the munge key and that role's host
private key, which the node's boot script reads with the nodes' user-assigned identity (components/boot/
node_secrets.py), so the custom data (readable by anyone who may read the VM's model) carries none.

The vault: RBAC authorization (no access policies: who reads what is a role assignment, scoped here to one
secret); reachable only from the cluster subnet (its ``Microsoft.KeyVault`` service endpoint; every other network
denied, trusted Azure services included), since the boot runs there, while the deployer writes the secrets through
Resource Manager, which the vault's firewall does not gate; soft delete for the shortest time Azure allows
(7 days) and no purge protection: the keys of a destroyed environment open nothing, and purge protection would
keep them, unpurgeable, for that time. Each node role's identity holds ``Key Vault Secrets User`` on its role's
secret, nothing on the vault.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.keyvault as keyvault
import pulumi_random as random
import pulumi_tls as tls
from pulumi import Input, Output

from components.azure.storage import account_name
from components.boot.config import Role
from components.boot.node_secrets import secret_document

SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"  # built-in role "Key Vault Secrets User"
VAULT_DNS_SUFFIX = "vault.azure.net"


def vault_name(name: str, resource_group: str) -> str:
    """Vault names are 3-24 letters, digits and hyphens, starting with a letter, unique across Azure: ``kv`` and
    a storage account's kind of name (storage.py), from at most 14 letters of the environment's."""
    return "kv" + account_name(name[:14], f"{resource_group}/vault")


def boot_secrets(name: str, *, resource_group_name: Input[str], location: str, tags: dict[str, str],
                 subnet_id: Input[str], readers: Mapping[Role, Input[str]], munge_key: random.RandomBytes,
                 host_keys: Mapping[Role, tls.PrivateKey], parent: pulumi.Resource,
                 ) -> tuple[Output[str], dict[Role, str], list[pulumi.Resource]]:
    """The vault's URL, each role's secret name, and the resources a node's boot needs in place (the secrets and
    the role assignments letting ``readers[role]``, that role's identity, read its own secret and no other)."""
    child = pulumi.ResourceOptions(parent=parent)
    client = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=parent))
    vault = keyvault.Vault(
        f"{name}-vault", vault_name=Output.from_input(resource_group_name).apply(lambda group: vault_name(name, group)),
        resource_group_name=resource_group_name, location=location, tags=tags,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=client.tenant_id, sku=keyvault.SkuArgs(family="A", name="standard"),
            enable_rbac_authorization=True, soft_delete_retention_in_days=7, public_network_access="Enabled",
            network_acls=keyvault.NetworkRuleSetArgs(
                default_action="Deny", bypass="None",
                virtual_network_rules=[keyvault.VirtualNetworkRuleArgs(id=subnet_id)])),
        opts=child)
    names: dict[Role, str] = {}
    needed: list[pulumi.Resource] = []
    for role, host_key in host_keys.items():
        names[role] = f"{role}-boot"
        document = Output.all(munge_key.base64, host_key.private_key_openssh).apply(lambda v: secret_document(*v))
        secret = keyvault.Secret(
            f"{name}-{role}-boot", secret_name=names[role], vault_name=vault.name,
            resource_group_name=resource_group_name, tags=tags,
            properties=keyvault.SecretPropertiesArgs(value=Output.secret(document), content_type="application/json"),
            opts=child)
        reader = authorization.RoleAssignment(
            f"{name}-{role}-boot-reader", principal_id=readers[role], principal_type="ServicePrincipal",
            role_definition_id=Output.concat("/subscriptions/", client.subscription_id,
                                             f"/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"),
            scope=secret.id, opts=child)
        needed += [secret, reader]
    return vault.name.apply(lambda vault: f"https://{vault}.{VAULT_DNS_SUFFIX}"), names, needed
