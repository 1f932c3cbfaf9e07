"""No example stack puts key material in user data or custom data (anyone allowed to describe a launch template or
read a VM's model reads them): every one is planned offline as `invoke plan` plans it, and each node's document is
shown in the clear (not marked secret), is a cloud-config, and holds neither a private key nor the munge key; the
keys sit in the secret store instead, readable by the nodes' own role or identity, for exactly those secrets."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

import stacks
from components.azure.head_power import STAGED_CONFIG
from components.boot import azure_power, cloud_files, node_secrets
from targets.plan import mock_run
from targets.plan.mock_run import ACCOUNT, PLANNED_PUBLIC_KEY, SECRET, PlannedResource
from tests.boot.documents import custom_data_text
from tests.test_sdk_inputs import examples, planned

# Key material no other text could hold by chance, answered for every generated key in place of the plan's own
MUNGE_BYTES = b"munge-key-bytes-\x00\x01\xfe\xff-7Q4z"
MUNGE = base64.b64encode(MUNGE_BYTES).decode()
PRIVATE_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUtVGVzdE9ubHlQcml2YXRlS2V5Qm9keQ"
PRIVATE = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PRIVATE_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture(autouse=True)
def distinct_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    computed = mock_run.PlanMocks._computed

    def with_distinct_keys(self: mock_run.PlanMocks, type_token: str, *args: Any) -> dict[str, Any]:
        out = computed(self, type_token, *args)
        if type_token == "random:index/randomBytes:RandomBytes":
            out.update(base64=MUNGE, hex=MUNGE_BYTES.hex())
        elif type_token == "tls:index/privateKey:PrivateKey":
            out.update(privateKeyOpenssh=PRIVATE, privateKeyPem=PRIVATE)
        return out

    monkeypatch.setattr(mock_run.PlanMocks, "_computed", with_distinct_keys)


def node_documents(resources: list[PlannedResource]) -> list[str]:
    """Every node's user data / custom data, as the instance, template, VM or scale set is given it."""
    found = []
    for resource in resources:
        inputs = resource.inputs
        if resource.type == "aws:ec2/instance:Instance":
            found.append(inputs["userData"])
        elif resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
            found.append(_decoded(inputs["userData"]))
        elif resource.type == "azure-native:compute:VirtualMachine":
            found += _azure_documents(custom_data_text(inputs["osProfile"]["customData"]))
    return found


def _azure_documents(head: str) -> list[str]:
    """The head's document and each partition's nodes' as the head's power program renders them (from the boot
    script its staged config holds; the bundle left out)."""
    [staged] = [e for e in json.loads(head.removeprefix("#cloud-config\n"))["write_files"]
                if e["path"] == STAGED_CONFIG]
    config = azure_power.read_config(gzip.decompress(base64.b64decode(staged["content"])).decode())
    fetcher = Path(node_secrets.__file__).read_bytes()
    return [head, *(cloud_files.document([], config.fetcher_path, fetcher, config.boot_path, vms.boot_script)
                    for vms in config.partitions.values())]


def _decoded(value: str) -> str:
    assert value != SECRET, "user data / custom data is marked secret: the plan cannot show it"
    return base64.b64decode(value).decode()


def plan(example: str) -> list[PlannedResource]:
    env = examples()[example]
    return planned(lambda: stacks.build(env, PLANNED_PUBLIC_KEY), region=env.region or "us-east-1")


SLURM_EXAMPLES = [name for name, env in sorted(examples().items()) if env.stack in ("hpc", "full")]


def test_every_example_with_nodes_is_checked() -> None:
    assert {"Pulumi.hpc-dev.yaml", "Pulumi.azure-hpc-dev.yaml", "aws-hpc.yaml", "azure-hpc.yaml"} <= set(
        SLURM_EXAMPLES)


@pytest.mark.parametrize("example", SLURM_EXAMPLES)
def test_no_user_data_holds_key_material(example: str) -> None:
    env = examples()[example]
    documents = node_documents(plan(example))
    assert len(documents) == 1 + len(env.slurm_partitions)  # the head's and each partition's template
    for text in documents:
        assert text.startswith("#cloud-config\n") and "node_secrets.py" in text
        for material in ("PRIVATE KEY", PRIVATE_BODY, MUNGE, MUNGE_BYTES.hex(), SECRET):
            assert material not in text, f"{example}: {material!r} in a node's user data"
        assert PLANNED_PUBLIC_KEY.split()[1] in text  # the pinned public half, which is public


@pytest.mark.parametrize("example", [name for name in SLURM_EXAMPLES if examples()[name].target == "aws"])
def test_the_node_role_reads_exactly_the_boot_secrets(example: str) -> None:
    resources = plan(example)
    secrets = [r for r in resources if r.type == "aws:secretsmanager/secret:Secret"]
    region = examples()[example].region or "us-east-1"
    arns = sorted(f"arn:aws:planned:{region}:{ACCOUNT}:{secret.name}" for secret in secrets)
    assert len(arns) == 2
    values = [r for r in resources if r.type == "aws:secretsmanager/secretVersion:SecretVersion"]
    assert [value.inputs["secretString"] for value in values] == [SECRET, SECRET]
    policies = [json.loads(r.inputs["policy"]) for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy"]
    reading = [s for policy in policies for s in policy["Statement"] if _mentions_secrets(s)]
    assert sorted((s["Effect"], s["Action"], s["Resource"]) for s in reading) == [
        ("Allow", ["secretsmanager:GetSecretValue"], [arn]) for arn in arns]  # each role its own secret
    for text in node_documents(resources):
        assert sum(arn in text for arn in arns) == 1  # each node role names its own secret


def _mentions_secrets(statement: dict[str, Any]) -> bool:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    return any(action.startswith("secretsmanager:") or action == "*" for action in actions)


@pytest.mark.parametrize("example", [name for name in SLURM_EXAMPLES if examples()[name].target == "azure"])
def test_each_node_roles_identity_reads_exactly_its_boot_secret(example: str) -> None:
    resources = plan(example)
    secrets = {r.inputs["secretName"]: r for r in resources if r.type == "azure-native:keyvault:Secret"}
    assert sorted(secrets) == ["compute-boot", "head-boot"]
    assert [secret.inputs["properties"]["value"] for secret in secrets.values()] == [SECRET, SECRET]
    identities = {r.name.rsplit("-", 1)[1]: r for r in resources
                  if r.type == "azure-native:managedidentity:UserAssignedIdentity"}
    assert sorted(identities) == ["head", "nodes"]
    for role, identity in (("head", identities["head"]), ("compute", identities["nodes"])):
        readers = [r for r in resources if r.type == "azure-native:authorization:RoleAssignment"
                   and r.inputs["principalId"] == f"principal-of-{identity.name}"
                   and r.inputs["roleDefinitionId"].endswith("/4633458b-17de-408a-b874-0445c86b69e6")]
        assert [reader.inputs["scope"] for reader in readers] == [f"{secrets[f'{role}-boot'].name}-id"]
        assert {reader.inputs["principalType"] for reader in readers} == {"ServicePrincipal"}
