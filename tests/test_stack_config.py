"""The one reading of a stack's config as a spec, on config only a stack file or a hostile engine gives."""

from __future__ import annotations

import pytest
import yaml

from spec.errors import SpecError
from spec.loader import validate
from spec.stack_config import SECRET_PLACEHOLDER, spec_from_config

PROJECT = "cloud-hpc-toolkit"


def spec(config: dict[str, object]) -> dict[str, object]:
    return spec_from_config(config, PROJECT, "dev", "Pulumi.dev.yaml")


def test_ciphertext_anywhere_reads_as_the_placeholder() -> None:
    config = yaml.safe_load("""
        aws:region: {secure: v1:r}
        cloud-hpc-toolkit:target: aws
        cloud-hpc-toolkit:tags: {owner: {secure: v1:o}, team: hpc}
    """)
    read = spec(config)
    assert (read["region"], read["tags"]) == (SECRET_PLACEHOLDER, {"owner": SECRET_PLACEHOLDER, "team": "hpc"})


def test_aliases_are_read_once_so_a_billion_laughs_stays_small() -> None:
    laughs = "cloud-hpc-toolkit:tags:\n  a: &a [{secure: v1:x}" + ", lol" * 9 + "]\n" + "".join(
        f"  {level}: &{level} [{', '.join([f'*{previous}'] * 10)}]\n"
        for previous, level in zip("abcdefgh", "bcdefghi", strict=True))  # 10^9 leaves if expanded
    tags = spec(yaml.safe_load(laughs))["tags"]
    assert tags["i"][0] is tags["i"][9] and tags["b"][0][0] == SECRET_PLACEHOLDER
    with pytest.raises(SpecError, match=r"^spec error: tags\.a = \['\[secret\]', 'lol', "):
        validate(spec(yaml.safe_load(laughs)))


def test_a_cycle_or_a_deep_nest_is_one_line() -> None:
    cyclic = yaml.safe_load("cloud-hpc-toolkit:tags: &a [*a, {secure: v1:x}]")
    with pytest.raises(SpecError, match=r"^spec error: tags = \[\[.*\.\.\..*, '\[secret\]'\]: allowed: a mapping"):
        validate(spec(cyclic))
    deep = "[" * 800 + "]" * 800  # JSON text, as the engine passes a section
    with pytest.raises(SpecError, match=r"^spec error: Pulumi.dev.yaml: config key 'cloud-hpc-toolkit:tags': "
                                        r"nested too deeply$"):
        spec({f"{PROJECT}:tags": deep})
