"""The Pulumi program reads its spec from the config the engine hands it, by the same rules as the stack-file
reader of ``invoke plan`` / ``invoke up``; a bad spec is one line (``pulumi.RunError``), never a traceback."""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from spec.environment import Environment
from spec.errors import SpecError
from spec.loader import load_stack_config, validate
from spec.stack_config import SECRET_PLACEHOLDER, spec_from_config
from stacks.engine_config import engine_config
from tests.program_run import PROJECT, engine_view, run_program, shipped_config

TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
# Pulumi.dev.yaml as `pulumi config set [--path] [--secret]` leaves it: sections as YAML objects, --path values
# that read as integers or booleans stored as such, a secret as ciphertext.
STACK_FILE = """\
config:
  aws:region: eu-west-1
  cloud-hpc-toolkit:target: aws
  cloud-hpc-toolkit:stack: full
  cloud-hpc-toolkit:ssh:
    allowed_cidr: 198.51.100.0/24
  cloud-hpc-toolkit:head:
    instance_type: c5n.large
  cloud-hpc-toolkit:compute:
    count: 8
    instance_type: c5n.18xlarge
    networking: efa
  cloud-hpc-toolkit:network:
    nat: false
  cloud-hpc-toolkit:containers:
    image: public.ecr.aws/docker/library/python:3.12-slim
    environment:
      DATABASE_URL:
        secure: v1:c2FsdA==:Y2lwaGVy
"""
PLAINTEXTS = {"v1:c2FsdA==:Y2lwaGVy": "postgres://app:hunter2-x@db/app"}


def one(resources: list[Any], type_token: str) -> Any:
    [resource] = [r for r in resources if r.type == type_token]
    return resource


def program_error(stack: str, config: dict[str, Any]) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        run_program(stack, *engine_view(config))
    return str(caught.value)


def file_error(tmp_path: Path, config: dict[str, Any]) -> str:
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(SpecError) as caught:
        load_stack_config("dev", tmp_path)
    return str(caught.value)


def test_pulumi_config_set_path_changes_the_cluster(user_home: Path) -> None:
    """`pulumi config set --path cloud-hpc-toolkit:compute.count 8` and `... compute.instance_type c5n.9xlarge`."""
    config = shipped_config("hpc-dev")
    config["cloud-hpc-toolkit:compute"] |= {"count": 8, "instance_type": "c5n.9xlarge"}
    resources = run_program("hpc-dev", *engine_view(config)).resources
    template = one(resources, TEMPLATE).inputs
    assert (template["tags"]["chpc:min"], template["tags"]["chpc:max"]) == ("8", "8")  # the always-on nodes
    assert template["instanceType"] == "c5n.9xlarge"
    assert one(run_program("hpc-dev", *engine_view(shipped_config("hpc-dev"))).resources,
               TEMPLATE).inputs["tags"]["chpc:min"] == "4"


def test_invoke_plan_reads_what_the_program_receives(tmp_path: Path) -> None:
    """The stack file (``invoke plan``, ``invoke up``) and the same config as the engine passes it to the program
    (``PULUMI_CONFIG``, through ``pulumi.Config``) give the same Environment; only the offline reader, which
    cannot decrypt, has the placeholder where the secret is."""
    (tmp_path / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(STACK_FILE)
    from_file = load_stack_config("dev", tmp_path)
    values, secret_keys = engine_view(yaml.safe_load(STACK_FILE)["config"], PLAINTEXTS)

    def program_environment() -> Environment:
        pulumi.runtime.set_all_config(values, secret_keys)  # as the language host does
        config = engine_config()
        assert config.secret_keys == {"cloud-hpc-toolkit:containers"}
        return validate(spec_from_config(config.values, PROJECT, "dev", "the config of stack dev"))

    received = contextvars.copy_context().run(program_environment)
    assert received.containers is not None and from_file.containers is not None
    assert received.containers.environment == {"DATABASE_URL": "postgres://app:hunter2-x@db/app"}
    assert from_file.containers.environment == {"DATABASE_URL": SECRET_PLACEHOLDER}
    received.containers.environment["DATABASE_URL"] = SECRET_PLACEHOLDER
    assert received == from_file
    assert (from_file.name, from_file.region, from_file.slurm_partitions[0].max, from_file.network.nat) == (
        "dev", "eu-west-1", 8, False)


def test_the_config_may_come_from_pulumi_config_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a program sees when nothing filled the runtime's store: ``PULUMI_CONFIG`` and its secret keys."""
    monkeypatch.setenv("PULUMI_CONFIG", '{"cloud-hpc-toolkit:compute": "{\\"count\\": 3}", "aws:region": "x"}')
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["aws:region"]')
    config = contextvars.copy_context().run(engine_config)
    assert config.values == {"aws:region": "x", "cloud-hpc-toolkit:compute": '{"count": 3}'}
    assert config.secret_keys == {"aws:region"}


def test_a_typo_is_an_error_naming_the_key(tmp_path: Path, user_home: Path) -> None:
    config = shipped_config("hpc-dev")
    config["cloud-hpc-toolkit:comptue"] = {"count": 8}
    message = program_error("hpc-dev", config)
    assert message.startswith("spec error: comptue: unknown field; allowed fields: name, target, stack, ")
    assert file_error(tmp_path, config) == message


def test_a_bad_value_is_the_same_one_line_for_the_program_and_invoke_plan(tmp_path: Path, user_home: Path) -> None:
    config = shipped_config("hpc-dev")
    config["cloud-hpc-toolkit:compute"]["count"] = 0
    message = program_error("hpc-dev", config)
    assert message == "spec error: compute.count = 0: allowed: an integer from 1 to 1000"
    assert file_error(tmp_path, config) == message


def test_a_field_set_without_path_says_to_use_path(tmp_path: Path, user_home: Path) -> None:
    """`pulumi config set cloud-hpc-toolkit:compute.count 8` (no --path) makes a top-level key named so."""
    config = shipped_config("hpc-dev") | {"cloud-hpc-toolkit:compute.count": "8"}
    advice = ("config key 'cloud-hpc-toolkit:compute.count': a field inside a section; set it with "
              "`pulumi config set --path cloud-hpc-toolkit:compute.count VALUE`")
    assert program_error("hpc-dev", config) == f"spec error: the config of stack hpc-dev: {advice}"
    assert file_error(tmp_path, config) == f"spec error: {tmp_path}/Pulumi.dev.yaml: {advice}"


def test_what_the_program_cannot_build_is_one_line(user_home: Path) -> None:
    """A target without Pulumi stacks, and a spec the rules refuse (a secret-looking environment variable in plain
    text is still readable by whoever may describe the task definition, secret in Pulumi or not): the line
    `spec.check`, `plan` and `up` give."""
    assert program_error("local-dev", shipped_config("local-dev")) == (
        "target local: no Pulumi stacks for it in this version (aws and azure only)")
    config = shipped_config("containers-dev")
    config["cloud-hpc-toolkit:containers"]["environment"] = {"DB_PASSWORD": {"secure": "v1:p"}}
    with pytest.raises(pulumi.RunError, match=r"^spec error: containers\.environment\.DB_PASSWORD: DB_PASSWORD looks "
                                              r"like a secret given in plain text, .*"):
        run_program("containers-dev", *engine_view(config, {"v1:p": "hunter2"}))
