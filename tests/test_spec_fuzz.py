"""Whatever the input, the spec loader answers with an Environment or one SpecError line, never a crash."""

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spec.environment import Environment
from spec.errors import SpecError
from spec.loader import load_spec_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = yaml.safe_load((ROOT / "examples" / "specs" / "aws-hpc.yaml").read_text())
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

YAML_PIECES = st.sampled_from([
    "target: ", "aws", "local", "compute:", "  count: ", "{", "}", "[", "]", ", ", ": ", "- ", "\n", "  ",
    "&a ", "*a", "!!binary ", "!!str ", "? ", "---", "...", "'", '"', "#", "~", "yes", "0x1F", "2024-02-30",
    "storage:", "volumes:", "mount: /scratch", "name: x", "<<: ", "%YAML 1.1", "\t", "\x00", "\u2028",
])
YAML_LIKE = st.one_of(
    st.text(),
    st.lists(st.one_of(YAML_PIECES, st.text(max_size=3)), max_size=30).map("".join),
)

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                    st.sampled_from(["aws", "azure", "local", "rdma", "/scratch", "/", "gp3", "efs", "0"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.booleans()), inner, max_size=4),
), max_leaves=12)


def assert_loads_or_one_line_error(text: str) -> None:
    try:
        assert isinstance(load_spec_text(text), Environment)
    except SpecError as exc:
        message = str(exc)
        assert message.startswith("spec error: ")
        assert len(message.splitlines()) == 1 and "\n" not in message


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into ``value``, the root included, for picking a place to mutate."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


EXAMPLE_PATHS = paths(EXAMPLE)


@FUZZ
@given(YAML_LIKE)
def test_any_text_loads_or_fails_in_one_line(text):
    assert_loads_or_one_line_error(text)


@FUZZ
@given(st.sampled_from(EXAMPLE_PATHS), st.booleans(), st.text(max_size=12), VALUES)
def test_mutated_example_loads_or_fails_in_one_line(path, add_key, new_key, value):
    spec = copy.deepcopy(EXAMPLE)
    parent: Any = spec
    for part in path[:-1]:
        parent = parent[part]
    if not path:
        spec = value
    elif add_key and isinstance(parent[path[-1]], dict):
        parent[path[-1]][new_key] = value
    else:
        parent[path[-1]] = value
    assert_loads_or_one_line_error(yaml.safe_dump(spec, allow_unicode=True))


def test_unmutated_example_is_valid():
    assert load_spec_text(yaml.safe_dump(EXAMPLE)).name == "hpc-dev"


def test_check_command_on_a_bad_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("compute: {count: 4, networking: \"fast\\nslow\"}\nstorage: 7\n")
    proc = subprocess.run([sys.executable, "-m", "spec.check", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("spec error: compute.networking = 'fast\\nslow': allowed: none, ")
    assert "Traceback" not in proc.stderr
