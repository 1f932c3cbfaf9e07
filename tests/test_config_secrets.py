"""Secrets given in config stay secret: no resource input and no export carries one in plain text, while the
provider still receives it; the offline reader, which cannot decrypt, plans with a placeholder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
import yaml

import stacks
from spec.loader import load_environment
from spec.stack_config import SECRET_PLACEHOLDER
from stacks.config_secrets import SecretTexts, keep_secret, secret_texts
from targets.plan.mock_run import SECRET, evaluate
from targets.plan.report import plan
from tests.program_run import ProgramRun, engine_view, run_program, shipped_config
from tests.pulumi_helpers import KEY, secret_value

PASSWORD = 'postgres://app:s3cr3t"pw@db/app'  # a quote, to be found in its JSON-escaped form too
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"


def with_secret(stack: str, key: str, section: dict[str, Any]) -> dict[str, Any]:
    """The stack's config after ``pulumi config set --secret --path <key>.<...> <PASSWORD>`` (``section`` holds
    ``{secure: v1:x}`` where the secret goes)."""
    config = shipped_config(stack)
    config[key] = config.get(key, {}) | section
    return config


def plaintext_places(run: ProgramRun) -> list[str]:
    """Where the secret appears outside a secret: the inputs of each resource, then the exports (secrets are
    "[secret]" where they sit, not hoisted to the top-level input)."""
    escaped = json.dumps(PASSWORD)[1:-1]
    places = [(f"{r.type}::{r.name}", json.dumps(r.inputs)) for r in run.resources]
    places.append(("exports", json.dumps(run.exports)))
    return [where for where, text in places if PASSWORD in text or escaped in text or "s3cr3t" in text]


def test_texts_of_secret_keys_by_the_engines_masking_rule() -> None:
    """Every string of a secret key (the engine marks the whole top-level key), not below 3 characters, not
    true/false, in its JSON-escaped form too; numbers, mapping keys and other keys' values are not secret."""
    values = {"p:containers": json.dumps({"environment": {"DB_URL": 'a"b', "MODE": "on"}, "cpu": 256,
                                          "command": ["python", "-c", "True"]}),
              "p:region": "eu-west-1", "aws:secretKey": "abcdef"}
    texts = secret_texts(values, frozenset({"p:containers", "aws:secretKey"}))
    assert texts.patterns == {'a"b', 'a\\"b', "python", "abcdef"}
    assert texts.carried_by('{"value":"a\\"b"}') and not texts.carried_by("eu-west-1 DB_URL MODE 256")


def test_keep_secret_marks_exactly_the_parts_that_carry_a_secret() -> None:
    """Strings, what an Output or an awaitable resolves to, inside dicts, lists, tuples and args classes; a
    mapping key carrying one makes its mapping secret. Read as the engine receives them: "[secret]" where a
    secret sits."""
    secrets = SecretTexts(frozenset({"hunter2"}))

    async def awaited() -> str:
        return "pw: hunter2"

    def program() -> None:
        props = {"plain": "x", "text": "pw=hunter2", "later": pulumi.Output.from_input("x").apply(lambda _: "hunter2"),
                 "clean": pulumi.Output.from_input("y"), "nested": {"a": ("b", "hunter2"), "c": 1},
                 "keyed": {"hunter2": "v"}, "awaited": awaited(),
                 "args": aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="instance",
                                                                     tags={"k": "hunter2"})}
        pulumi.CustomResource("test:index:Thing", "thing", keep_secret(props, secrets))

    [thing] = evaluate(program, project="p", stack="s")
    assert thing.inputs == {"plain": "x", "text": SECRET, "later": SECRET, "clean": "y",
                            "nested": {"a": ["b", SECRET], "c": 1}, "keyed": SECRET, "awaited": SECRET,
                            "args": {"resourceType": "instance", "tags": {"k": SECRET}}}


def registered(registrations: dict[str, Any], type_token: str) -> dict[str, Any]:
    """The inputs of the one resource of ``type_token`` as the provider receives them (secrets still marked)."""
    [request] = [r for key, r in registrations.items() if key.startswith(f"{type_token}::")]
    return pulumi.runtime.rpc.deserialize_properties(request.object)


@pytest.mark.parametrize("stack, region, type_token, variables", [
    ("containers-dev", "us-east-1", TASK_DEFINITION,
     lambda inputs: json.loads(secret_value(inputs["containerDefinitions"]))[0]["environment"]),
    ("azure-containers-dev", "westeurope", CONTAINER_GROUP,
     lambda inputs: secret_value(inputs["containers"])[0]["environmentVariables"]),
])
def test_a_secret_container_variable_reaches_the_provider_and_nothing_else(
        stack: str, region: str, type_token: str, variables: Callable[[dict[str, Any]], list[dict[str, str]]],
        user_home: Path, registrations: dict[str, Any]) -> None:
    """`pulumi config set --secret --path cloud-hpc-toolkit:containers.environment.DATABASE_URL ...`."""
    config = with_secret(stack, "cloud-hpc-toolkit:containers", {"environment": {"DATABASE_URL": {"secure": "v1:x"}}})
    run = run_program(stack, *engine_view(config, {"v1:x": PASSWORD}), region=region)
    assert plaintext_places(run) == []
    assert {"name": "DATABASE_URL", "value": PASSWORD} in variables(registered(registrations, type_token))


def test_a_secret_tag_is_secret_on_every_resource_and_in_the_provider(user_home: Path,
                                                                        registrations: dict[str, Any]) -> None:
    """The spec's tags go to every resource and to the provider's default tags: all of them carry it."""
    config = with_secret("hpc-dev", "cloud-hpc-toolkit:tags", {"cost-center": {"secure": "v1:x"}, "team": "research"})
    run = run_program("hpc-dev", *engine_view(config, {"v1:x": PASSWORD}))
    assert plaintext_places(run) == []
    tagged = [tags for r in run.resources if isinstance(tags := r.inputs.get("tags"), dict) and "cost-center" in tags]
    assert len(tagged) > 20
    assert all(tags["cost-center"] == SECRET and tags["chpc:environment"] == "hpc-dev" for tags in tagged)
    [provider] = [r for r in run.resources if r.type == "pulumi:providers:aws"]
    assert provider.inputs["defaultTags"] == SECRET
    assert run.exports["region"] == "us-east-1"  # what carries no secret stays readable
    assert secret_value(registered(registrations, "aws:ebs/volume:Volume")["tags"])["cost-center"] == PASSWORD


def test_invoke_plan_plans_a_stack_file_holding_ciphertext(tmp_path: Path) -> None:
    """It cannot decrypt `{secure: v1:...}`: the value reads as the placeholder, shown as it is, never refused."""
    config = with_secret("containers-dev", "cloud-hpc-toolkit:containers",
                         {"environment": {"DATABASE_URL": {"secure": "v1:c2FsdA==:Y2lwaGVy"}}})
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    env = load_environment(None, "dev", tmp_path)
    assert env.containers is not None and env.containers.environment == {"DATABASE_URL": SECRET_PLACEHOLDER}
    result = plan(env, lambda: stacks.build(env, KEY))
    assert result.errors == []
    [task] = [r for r in result.resources if r.type == TASK_DEFINITION]
    assert json.loads(task.inputs["containerDefinitions"])[0]["environment"] == [
        {"name": "DATABASE_URL", "value": SECRET_PLACEHOLDER}]


def test_a_secret_region_is_secret_in_the_exports_too(user_home: Path) -> None:
    """`pulumi config set --secret cloud-hpc-toolkit:region eu-west-3`: the exports that carry it are secret."""
    config = shipped_config("hpc-dev") | {"cloud-hpc-toolkit:region": {"secure": "v1:r"}}
    run = run_program("hpc-dev", *engine_view(config, {"v1:r": "eu-west-3"}), region="eu-west-3")
    assert [r.name for r in run.resources if "eu-west-3" in json.dumps(r.inputs)] == []
    assert "eu-west-3" not in json.dumps(run.exports)
    assert (run.exports["region"], run.exports["name"]) == (SECRET, "hpc-dev")
