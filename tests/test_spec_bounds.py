"""The spec loader against hostile input: it reads only regular files of bounded size, expands aliases within a
budget, takes YAML 1.2 core types only, and every message it builds is short, whatever the input held."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spec.environment import SYSTEM_DIRS, SYSTEM_PARENTS
from spec.errors import VALUE_WIDTH, SpecError, brief_repr
from spec.loader import load_spec_file, load_spec_text
from spec.spec_file import MAX_SPEC_BYTES
from spec.yaml_core import MAX_VALUES

ROOT = Path(__file__).resolve().parents[1]
AWS = "target: aws\nregion: us-east-1\nssh: {allowed_cidr: 198.51.100.0/24}\n" \
      "head: {instance_type: c5n.large}\ncompute: {instance_type: c5n.large}\n"


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text)
    return str(caught.value)


def check(path: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spec.check", str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)


def laughs(levels: int, width: int = 10, field: str = "name") -> str:
    """The billion laughs: each level lists the previous one ``width`` times (10**9 strings at 9 levels)."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return "\n".join(lines) + f"\n{field}: *l{levels - 1}\n"


# --- what is read -------------------------------------------------------------------------------------------

def test_a_fifo_is_refused_at_once_without_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match=r"^spec error: .*spec\.yaml: is a FIFO, not a regular file; give a YAML"):
        load_spec_file(fifo)
    result = check(fifo)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [f"spec error: {fifo}: is a FIFO, not a regular file; give a YAML file"]


def test_dev_zero_is_one_line_not_a_memory_error() -> None:
    result = check("/dev/zero")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == ["spec error: /dev/zero: is a character device, not a regular file; "
                                          "give a YAML file"]


def test_a_link_to_a_device_is_judged_by_what_it_opens(tmp_path: Path) -> None:
    link = tmp_path / "spec.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(SpecError, match=r"is a character device, not a regular file"):
        load_spec_file(link)


def test_a_file_past_the_size_limit_is_refused_unparsed(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: hpc\n" + "#" * MAX_SPEC_BYTES + "\n")
    with pytest.raises(SpecError, match=rf"^spec error: .*big\.yaml: larger than {MAX_SPEC_BYTES // 1024} KiB"):
        load_spec_file(big)
    fits = tmp_path / "fits.yaml"
    fits.write_text("name: hpc\n" + "#" * (MAX_SPEC_BYTES - 20) + "\n")
    assert load_spec_file(fits).name == "hpc"
    with pytest.raises(SpecError, match=r"^spec error: <spec>: larger than"):
        load_spec_text("name: hpc\n" + " " * MAX_SPEC_BYTES)


def test_a_name_with_a_nul_is_one_line() -> None:
    with pytest.raises(SpecError, match=r"^spec error: 'a\\x00b': not a file name \(it holds a NUL\)$"):
        load_spec_file("a\x00b")


# --- aliases ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["name", "tags", "containers", "storage"])
def test_the_billion_laughs_is_refused_before_anything_is_built(field: str) -> None:
    text = laughs(9, field=field)
    assert len(text) < 700
    assert error_of(text).startswith("spec error: <spec>:")
    assert f"expands past {MAX_VALUES:,} values (aliases followed)" in error_of(text)


def test_merge_keys_beyond_the_budget_are_refused_too() -> None:
    base = "d0: &d0 {a: 1, b: 2, c: 3, d: 4}\n" + "".join(
        f"d{n}: &d{n} [{', '.join([f'*d{n - 1}'] * 8)}]\n" for n in range(1, 6))
    assert "expands past" in error_of(base + "tags: {<<: *d5}\n")


def test_aliases_within_the_budget_still_work() -> None:
    env = load_spec_text("storage:\n  volumes:\n    - &v {name: a, size_gb: 1, mount: /a}\n"
                         "    - {<<: *v, name: b, mount: /b}\n")
    assert [(v.name, v.size_gb, v.mount) for v in env.storage.volumes] == [("a", 1, "/a"), ("b", 1, "/b")]


def test_an_alias_inside_what_it_names_is_one_line() -> None:
    assert error_of("tags: &a {x: *a}") == "spec error: <spec>:1:7: invalid YAML: an alias refers to a collection " \
                                           "that contains it"


# --- YAML 1.1 surprises -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("compute: {count: 1:30}", "compute.count = '1:30': allowed: an integer from 1 to 1000"),  # not 90
    ("compute: {count: !!int 1:30}", "<spec>:1:18: invalid YAML: '1:30' is not an integer (tag !!int)"),
    ("storage: {volumes: [{name: a, size_gb: 1, mount: /a, retain: !!bool maybe}]}",
     "<spec>:1:62: invalid YAML: 'maybe' is not true or false (tag !!bool)"),
    ("name: !!timestamp bad", "<spec>:1:7: invalid YAML: tag '!!timestamp' is not allowed (a spec takes strings, "
                              "numbers, true/false, null, lists and mappings)"),
    ("name: !!binary aGk=", "<spec>:1:7: invalid YAML: tag '!!binary' is not allowed (a spec takes strings, "
                            "numbers, true/false, null, lists and mappings)"),
    ("name: !!python/name:os.system x", "<spec>:1:7: invalid YAML: tag '!!python/name:os.system' is not allowed "
                                        "(a spec takes strings, numbers, true/false, null, lists and mappings)"),
    ("tags: !!set {a, b}", "<spec>:1:7: invalid YAML: tag '!!set' is not allowed (a spec takes strings, numbers, "
                           "true/false, null, lists and mappings)"),
    ("name: !mine x", "<spec>:1:7: invalid YAML: tag '!mine' is not allowed (a spec takes strings, numbers, "
                      "true/false, null, lists and mappings)"),
    ("compute: {count: !!int " + "9" * 5000 + "}", "<spec>:1:18: invalid YAML: '9999999999999999999999999999999999"
                                                 "999999'... has too many digits"),
    ("name: a\nname: b", "<spec>:2:1: invalid YAML: key 'name' is given twice in one mapping"),
])
def test_yaml_surprises_are_one_line(text: str, message: str) -> None:
    assert error_of(text) == f"spec error: {message}"


def test_core_schema_values() -> None:
    env = load_spec_text("name: no\ncompute: {count: 010}\ntags: {a: yes, b: 2024-02-30, d: 1:30, e: on, "
                         "f: 1_000}")
    assert env.name == "no"  # not false
    assert env.slurm_partitions[0].max == 10  # decimal, not octal 8
    assert env.tags == {"a": "yes", "b": "2024-02-30", "d": "1:30", "e": "on", "f": "1_000"}  # all strings
    assert load_spec_text("compute: {count: 0o10}").slurm_partitions[0].max == 8
    assert load_spec_text("compute: {count: 0x10}").slurm_partitions[0].max == 16


# --- short messages, fast patterns -------------------------------------------------------------------------

def test_a_huge_shared_value_is_described_from_a_bounded_view() -> None:
    value: list[object] = ["lol"] * 10
    for _ in range(9):
        value = [value] * 10  # 10**10 strings if walked
    assert len(brief_repr(value)) <= VALUE_WIDTH
    assert len(brief_repr("x" * 10**7)) <= VALUE_WIDTH
    assert brief_repr(10**5000) == "<int>"


@pytest.mark.parametrize("text", [
    "target: azure\nregion: " + "a" * 60_000 + "-\n",
    "target: aws\nregion: us-" + "a" * 60_000 + "\n",
    "tags: {" + "k" * 60_000 + ": v}\n",
    "compute: {" + "x" * 60_000 + ": 1}\n",
    "storage: {volumes: [{name: a, size_gb: 1, mount: /" + "a/" * 30_000 + "}]}",
    "ssh: {public_key: " + "~" * 60_000 + "\x01}",
])
def test_a_60000_character_value_gets_a_short_line(text: str) -> None:
    message = error_of(AWS + text if "target" not in text else text)
    assert len(message) < 400 and message.startswith("spec error: ")


# --- mount points -------------------------------------------------------------------------------------------

def volume(mount: str, spec: str = "") -> str:
    return f"{spec}storage: {{volumes: [{{name: a, size_gb: 1, mount: {mount}}}]}}"


@pytest.mark.parametrize("folder", sorted(SYSTEM_DIRS))
def test_a_system_folder_is_refused_on_above_and_inside(folder: str) -> None:
    for mount in (folder, f"{folder}/x", f"/scratch/..{folder}"):
        assert f"neither on, above nor inside {folder} ({SYSTEM_DIRS[folder]})" in error_of(volume(mount))
    assert "neither on, above nor inside" in error_of(volume(folder.rsplit("/", 1)[0] or "/var"))


@pytest.mark.parametrize("folder", sorted(SYSTEM_PARENTS))
def test_a_parent_folder_is_refused_on_and_above_but_not_inside(folder: str) -> None:
    assert f"neither on nor above {folder} ({SYSTEM_PARENTS[folder]}); inside it is fine" in error_of(volume(folder))
    assert load_spec_text(volume(f"{folder}/data")).storage.volumes[0].mount == f"{folder}/data"


@pytest.mark.parametrize(("spec", "home"), [(AWS, "/home/ec2-user"), (AWS + "ssh: {user: alice}\n", "/home/alice")])
def test_the_ssh_users_home_is_refused_for_a_volume_and_the_share(spec: str, home: str) -> None:
    spec = spec.replace("ssh: {allowed_cidr: 198.51.100.0/24}\n", "") if "alice" in spec else spec
    spec = spec.replace("ssh: {user: alice}", "ssh: {user: alice, allowed_cidr: 198.51.100.0/24}")
    assert error_of(volume(home, spec)).endswith(
        f"allowed: a mount point neither on nor above {home} (ssh.user {home.rsplit('/', 1)[1]}'s home, with the "
        "authorized_keys every task logs in with)")
    assert "storage.shared.mount" in error_of(spec + f"storage: {{shared: {{kind: efs, mount: {home}}}}}")
    assert load_spec_text(volume(f"{home}/data", spec)).storage.volumes[0].mount == f"{home}/data"
    assert load_spec_text(volume("/home/someone-else", spec)).storage.volumes[0].mount == "/home/someone-else"
