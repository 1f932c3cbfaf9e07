"""Properties of the spec's field parsers, for any input hypothesis draws: what each accepts, what it makes of it,
and that anything else is a one-line refusal."""

from __future__ import annotations

import ipaddress
import posixpath
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spec.environment import (
    NAME_PATTERN,
    NETWORKING_ALIASES,
    REGIONS,
    SYSTEM_DIRS,
    SYSTEM_PARENTS,
    Compute,
    Environment,
    Ssh,
    Volume,
    within,
)
from spec.errors import VALUE_WIDTH, SpecError, brief_repr
from spec.loader import validate
from spec.ssh_networks import check_ssh_cidr
from spec.yaml_core import load_mapping

PROPERTIES = settings(max_examples=150, deadline=None)
PLAIN = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,10}(:[a-z0-9._+-]{1,5}){0,3}", fullmatch=True)  # plain-safe


def refused(make: object, *args: object, **kwargs: object) -> bool:
    try:
        make(*args, **kwargs)  # type: ignore[operator]
    except ValidationError:
        return True
    return False


# --- YAML core schema ---------------------------------------------------------------------------------------

@PROPERTIES
@given(st.integers(min_value=-(10**300), max_value=10**300))
def test_an_integer_reads_as_itself(number: int) -> None:
    assert load_mapping(f"a: {number}") == {"a": number}


@PROPERTIES
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_reads_as_itself(number: float) -> None:
    assert load_mapping(f"a: {number!r}") == {"a": number}


@PROPERTIES
@given(PLAIN)
def test_a_plain_scalar_is_a_string_unless_the_core_schema_types_it(text: str) -> None:
    value = load_mapping(f"a: {text}")["a"]  # type: ignore[index]
    core = re.fullmatch(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
                        r"|true|false|null", text)
    assert isinstance(value, str) == (core is None)
    if ":" in text and core is None:
        assert value == text  # never sexagesimal


@PROPERTIES
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs"),
                             blacklist_characters="\x85\u2028\u2029\ufeff\ufffe\uffff"), max_size=40))
def test_any_single_quoted_text_reads_as_that_string(text: str) -> None:
    assert load_mapping("a: '" + text.replace("'", "''") + "'") == {"a": text}


# --- fields -------------------------------------------------------------------------------------------------

@PROPERTIES
@given(st.integers(min_value=-(10**6), max_value=10**6), st.booleans())
def test_a_count_is_an_integer_from_1_to_1000_given_as_a_number_or_text(count: int, as_text: bool) -> None:
    given_as = str(count) if as_text else count
    assert refused(Compute, count=given_as) == (not 1 <= count <= 1000)
    if 1 <= count <= 1000:
        assert Compute(count=given_as).count == count


@given(st.booleans())
def test_a_count_is_never_a_boolean(flag: bool) -> None:
    assert refused(Compute, count=flag)


@PROPERTIES
@given(st.sampled_from(["none", "enhanced", "rdma", *NETWORKING_ALIASES]), st.randoms())
def test_networking_names_in_any_case(name: str, rng: object) -> None:
    mixed = "".join(c.upper() if rng.random() < 0.5 else c for c in name)  # type: ignore[attr-defined]
    assert Compute(networking=mixed).networking == NETWORKING_ALIASES.get(name, name)


@PROPERTIES
@given(st.one_of(st.ip_addresses(v=4).flatmap(lambda a: st.tuples(st.just(a), st.integers(0, 32))),
                 st.ip_addresses(v=6).flatmap(lambda a: st.tuples(st.just(a), st.integers(0, 128)))))
def test_a_network_is_accepted_without_host_bits_only(address_prefix: tuple[object, int]) -> None:
    address, prefix = address_prefix
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    assert Ssh(allowed_cidr=str(network)).allowed_cidr == str(network)
    if network.network_address != address:
        assert refused(Ssh, allowed_cidr=f"{address}/{prefix}")


@PROPERTIES
@given(st.text(alphabet="/abc._-", max_size=40))
def test_a_mount_point_is_normalised_and_leaves_the_system_alone(text: str) -> None:
    try:
        mount = Volume(name="a", size_gb=1, mount=text).mount
    except ValidationError:
        return
    assert mount == posixpath.normpath(mount) and mount.startswith("/") and mount != "/"
    assert not any(within(mount, folder) or within(folder, mount) for folder in SYSTEM_DIRS)
    assert not any(within(folder, mount) for folder in SYSTEM_PARENTS)
    assert Volume(name="a", size_gb=1, mount=mount).mount == mount


@PROPERTIES
@given(st.sampled_from(sorted(SYSTEM_DIRS)), st.text(alphabet="abc", max_size=5))
def test_nothing_on_or_inside_a_system_folder_is_a_mount_point(folder: str, tail: str) -> None:
    assert refused(Volume, name="a", size_gb=1, mount=f"{folder}/{tail}")


@PROPERTIES
@given(st.text(max_size=30))
def test_a_name_is_accepted_exactly_when_it_matches_its_pattern(name: str) -> None:
    assert refused(Environment, name=name) == (re.fullmatch(NAME_PATTERN, name) is None)


@PROPERTIES
@given(st.sampled_from(["aws", "azure"]), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", max_size=80),
       st.integers(0, 70_000))
def test_a_region_of_any_length_is_judged_by_its_pattern(target: str, text: str, padding: int) -> None:
    region = text + "a" * padding
    spec = {"target": target, "region": region, "ssh": {"allowed_cidr": "198.51.100.0/24"},
            "head": {"instance_type": "x"}, "compute": {"instance_type": "x"}}
    pattern = REGIONS[target][0]
    try:
        assert validate(spec).region == region and pattern.fullmatch(region)
    except SpecError as exc:
        assert not pattern.fullmatch(region) and len(str(exc)) < 300


@PROPERTIES
@given(st.one_of(st.ip_addresses(v=4).flatmap(lambda a: st.tuples(st.just(a), st.integers(0, 32))),
                 st.ip_addresses(v=6).flatmap(lambda a: st.tuples(st.just(a), st.integers(0, 128)))),
       st.integers(0, 32), st.integers(0, 128), st.booleans())
def test_ssh_breadth_is_an_error_exactly_below_the_minimum_prefix(address_prefix: tuple[object, int], v4: int,
                                                                  v6: int, allow_world: bool) -> None:
    address, prefix = address_prefix
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    least = v4 if network.version == 4 else v6
    findings = check_ssh_cidr(str(network), allow_world, min_prefix=(v4, v6))
    too_broad = prefix == 0 or prefix < least
    assert [f.severity for f in findings] == ([("warning" if allow_world else "error")] if too_broad else [])


@PROPERTIES
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
                    lambda inner: st.one_of(st.lists(inner, max_size=6),
                                            st.dictionaries(st.text(max_size=5), inner, max_size=6)),
                    max_leaves=40))
def test_a_value_in_a_message_is_always_short(value: object) -> None:
    assert len(brief_repr(value)) <= VALUE_WIDTH
