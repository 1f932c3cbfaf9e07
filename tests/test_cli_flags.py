"""Every task's flags as invoke's own parser reads them: one short form per long flag, the same in every task
(`-n` --name, `-s` --stack, `-f` --spec everywhere), no two flags of a task sharing one, `-h` left to --help; and
each flag's help says its default."""

from __future__ import annotations

import pytest
from invoke import Collection, Program
from invoke.parser import Parser, ParserContext

import invoke_tasks

TASKS = Collection.from_module(invoke_tasks)
# once: invoke hands each flag its help text the first time it builds a task's flags (it pops them from the task)
CONTEXTS = {context.name: context for context in TASKS.to_contexts()}


def flags_of(name: str) -> dict[str, list[str]]:
    """Each flag of task ``name`` (its long name as typed) -> its names, the short one first."""
    return {key: sorted(arg.names, key=len) for key, arg in CONTEXTS[name].args.items()}


def parse(argv: list[str]) -> dict[str, object]:
    """``argv`` (a task and its flags) through invoke's parser, with its core flags as a user's command line has
    them: the task's values by flag name."""
    parser = Parser(contexts=list(CONTEXTS.values()), initial=ParserContext(args=Program().core_args()))
    found = parser.parse_argv(argv)
    return {name: arg.value for name, arg in found[-1].args.items()}


ALL = {task: flags_of(task) for task in TASKS.task_names}


def test_every_task_is_in_the_table() -> None:
    assert {"up", "plan", "mount", "run-mpi", "job", "submit-spark", "status", "bench-network", "ssh", "destroy",
            "run-task", "demo"} <= set(ALL)


@pytest.mark.parametrize("task", sorted(ALL))
def test_no_two_flags_of_a_task_share_a_short_form_and_help_stays_help(task: str) -> None:
    shorts = [name for names in ALL[task].values() for name in names if len(name) == 1]
    assert len(shorts) == len(set(shorts)), ALL[task]
    assert "h" not in shorts


def test_a_long_flag_has_the_same_short_form_in_every_task_and_no_two_long_flags_share_one() -> None:
    short_of: dict[str, set[str]] = {}
    for flags in ALL.values():
        for long, names in flags.items():
            short_of.setdefault(long, set()).update(name for name in names if len(name) == 1)
    assert all(len(shorts) <= 1 for shorts in short_of.values()), short_of
    owners: dict[str, str] = {}
    for long, shorts in short_of.items():
        for short in shorts:
            assert owners.setdefault(short, long) == long, f"-{short} is --{owners[short]} and --{long}"


@pytest.mark.parametrize(("long", "short"), [("name", "n"), ("stack", "s"), ("spec", "f")])
def test_name_stack_and_spec_are_the_same_everywhere(long: str, short: str) -> None:
    having = [task for task, flags in ALL.items() if long in flags]
    assert having
    for task in having:
        assert ALL[task][long] == [short, long], task


@pytest.mark.parametrize(("task", "long"), sorted((task, long) for task, flags in ALL.items() for long in flags))
def test_each_short_form_reaches_its_own_flag(task: str, long: str) -> None:
    names = ALL[task][long]
    assert len(names) == 2, f"{task} --{long}: one short form, from cli.flags.SHORT_FLAGS"
    argument = CONTEXTS[task].args[long]
    argv = [task, f"-{names[0]}"] if argument.kind is bool else [task, f"-{names[0]}", "7"]
    values, defaults = parse(argv), parse([task])
    assert values[long] == (True if argument.kind is bool else ["7"] if argument.kind is list else "7")
    assert {name: value for name, value in values.items() if name != long} == {
        name: value for name, value in defaults.items() if name != long}


def test_dash_f_after_a_task_is_its_spec_not_invokes_config_file() -> None:
    assert parse(["up", "-f", "my.yaml", "-s", "hpc-dev", "-N", "3"])["spec"] == "my.yaml"
    assert parse(["status", "-s", "hpc-dev", "-n", "lab"]) == {"name": "lab", "stack": "hpc-dev"}


@pytest.mark.parametrize("task", sorted(ALL))
def test_every_flag_has_help_that_says_its_default(task: str) -> None:
    for argument in CONTEXTS[task].args.values():
        text = argument.help or ""
        assert "default" in text or "required" in text, f"{task} --{argument.name}: {text!r}"
