"""Properties of the run-mpi / submit-spark flag parsers over any text a user (or a fuzzer) can type: a value in
Slurm's syntax comes back as written, anything else is one line (``BadInput`` / exit 2), never another exception,
and no value makes a parser do unbounded work."""

from __future__ import annotations

import shlex
import string
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invoke.exceptions import Exit

from cli.words import split_words
from invoke_tasks import _count
from remote.errors import BadInput
from remote.job_flags import MAX_ARRAY_SIZE, check_partition, check_time, parse_array, parse_env
from targets.environments import check_stack
from targets.errors import UsageError
from targets.state import check_name

NAME_CHARACTERS = set(string.ascii_letters + string.digits + "_.-")
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
VALUES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=100)


def one_line(error: Exception) -> None:
    assert str(error) and "\n" not in str(error)


def as_written_or_one_line(check: Callable[[str], str], text: str) -> bool:
    """True when ``check`` gives ``text`` back unchanged; False when it refuses it in one line."""
    try:
        assert check(text) == text
    except BadInput as error:
        one_line(error)
        return False
    return True


@given(st.lists(st.tuples(KEYS, VALUES), max_size=5))
def test_env_items_come_back_exactly_whatever_their_values_hold(pairs: list[tuple[str, str]]) -> None:
    assert parse_env([f"{key}={value}" for key, value in pairs]) == dict(pairs)


@given(ANY_TEXT)
def test_any_env_item_is_a_pair_or_one_line(item: str) -> None:
    try:
        env = parse_env([item])
    except BadInput as error:
        one_line(error)
        assert "=" not in item or not item.partition("=")[0].isidentifier() or not item.partition("=")[0].isascii()
    else:
        key, value = next(iter(env.items()))
        assert f"{key}={value}" == item


@given(st.lists(st.tuples(st.integers(0, MAX_ARRAY_SIZE - 1), st.integers(0, 50), st.integers(1, 7)),
                min_size=1, max_size=4), st.one_of(st.none(), st.integers(1, 64)))
def test_an_array_in_slurms_syntax_names_exactly_its_tasks(parts: list[tuple[int, int, int]],
                                                           limit: int | None) -> None:
    parts = [(first, min(first + span, MAX_ARRAY_SIZE - 1), step) for first, span, step in parts]
    text = ",".join(f"{a}-{b}:{s}" for a, b, s in parts) + (f"%{limit}" if limit else "")
    expected = sorted({i for a, b, s in parts for i in range(a, b + 1, s)})
    spec = parse_array(text)
    assert (spec.text, list(spec.indices)) == (text, expected)


@given(ANY_TEXT)
def test_any_array_value_is_tasks_or_one_line(text: str) -> None:
    try:
        spec = parse_array(text)
    except BadInput as error:
        one_line(error)
    else:
        assert spec.indices and max(spec.indices) < MAX_ARRAY_SIZE


@pytest.mark.parametrize("text", ["0-999999999", "0-999999999999999999999:1", "5,1001", "0-2000%4"])
def test_an_array_beyond_slurms_size_is_one_line_before_counting_its_tasks(text: str) -> None:
    with pytest.raises(BadInput, match="above Slurm's MaxArraySize"):
        parse_array(text)


@settings(max_examples=300)
@given(st.one_of(ANY_TEXT, st.from_regex(r"\d{1,4}(:\d{1,2}){0,2}|\d{1,2}-\d{1,2}(:\d{1,2}){0,2}", fullmatch=True)))
def test_any_time_is_slurms_as_written_or_one_line(text: str) -> None:
    as_written_or_one_line(check_time, text)


@given(st.one_of(ANY_TEXT, st.from_regex(r"[A-Za-z0-9_.-]{1,20}(,[A-Za-z0-9_.-]{1,20}){0,3}", fullmatch=True)))
def test_any_partition_is_a_name_list_as_written_or_one_line(text: str) -> None:
    names = all(part and set(part) <= NAME_CHARACTERS for part in text.split(","))
    assert as_written_or_one_line(check_partition, text) == names


@given(st.one_of(ANY_TEXT, st.integers(-10**6, 10**6).map(str)))
def test_any_count_flag_is_a_whole_number_of_at_least_one_or_exit_2(value: str) -> None:
    try:
        number = _count("--nodes", value)
    except Exit as exit_:
        assert exit_.code == 2 and str(exit_.message).startswith("--nodes ") and "\n" not in str(exit_.message)
    else:
        assert number is not None and number >= 1 and number == int(value)


@given(st.lists(VALUES, max_size=5))
def test_words_quoted_as_a_shell_quotes_them_come_back_exactly(words: list[str]) -> None:
    assert split_words("--args", shlex.join(words)) == words


@given(st.one_of(ANY_TEXT, st.text(st.sampled_from("a \"'\\"), max_size=30)))
def test_any_words_flag_is_words_or_one_bounded_line_naming_it(text: str) -> None:
    try:
        words = split_words("--command", text)
    except BadInput as error:
        one_line(error)
        assert str(error).startswith("--command ") and len(str(error)) < 200
    else:
        assert all(isinstance(word, str) for word in words)


@given(st.one_of(ANY_TEXT, st.text(st.sampled_from("ab-_./"), min_size=1, max_size=40),
                 st.text(min_size=300, max_size=3000)))
def test_any_name_or_stack_flag_is_taken_as_written_or_one_bounded_line(text: str) -> None:
    for check, flag in ((check_name, "environment name "), (check_stack, "stack ")):
        try:
            assert check(text) == text
        except UsageError as error:
            one_line(error)
            assert str(error).startswith(flag) and len(str(error)) < 300
