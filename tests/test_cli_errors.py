"""How a task ends: the user's mistakes and failed steps are one line of text (exit 2 and 1), whatever their
message holds (markup, emoji codes: printed as they are); a bug in the toolkit is shown as a bug, with its
traceback, never as a one-line user error; every flag's bad value is one line and exit 2; a misspelled environment
or stack gets the closest name and the list."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from cli.errors import BUG, task_errors
from cli.text_console import text_console
from remote.errors import BadInput, RemoteError
from spec.outputs import NoSuchNode
from targets.errors import TargetError, UsageError
from targets.local.commands import LocalError
from tests.local.harness import invoke as run_cli
from tests.pulumi_cli.fixture import FakePulumi

MARKUP = "[/x] [bold]b[/bold] :smile: [red]"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def invoke(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with ``state_dir`` as its state folder and no Pulumi CLI on PATH (unless ``env``
    puts one there)."""
    return run_cli(state_dir, *args, timeout=120, env={"PATH": "/usr/sbin:/usr/bin:/bin", **(env or {})})


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A state folder holding environment "lab", up: its saved outputs (a head and one compute node)."""
    state = tmp_path / "state"
    (state / "lab").mkdir(parents=True)
    (state / "lab" / "outputs.json").write_text(json.dumps({
        "format": 1, "target": "local", "name": "lab", "ssh_user": "root", "ssh_private_key": str(tmp_path / "key"),
        "head": {"name": "head", "address": "10.213.9.1", "host_key": KEY},
        "computes": [{"name": "compute-0", "address": "10.213.9.2", "host_key": KEY}]}))
    return state


def ended(error: BaseException) -> tuple[int, str, str]:
    """What a task that raises ``error`` prints on its console and stderr, and its exit code."""
    shown, stderr = io.StringIO(), io.StringIO()

    @task_errors(text_console(file=shown, width=300))
    def a_task() -> None:
        raise error

    with pytest.raises(Exit) as caught:
        real = sys.stderr
        sys.stderr = stderr
        try:
            a_task()
        finally:
            sys.stderr = real
    return caught.value.code, shown.getvalue(), stderr.getvalue()


@pytest.mark.parametrize(("error", "code"), [
    (BadInput(f"--program {MARKUP!r}: not a file"), 2), (UsageError(f"stack {MARKUP!r}: bad"), 2),
    (NoSuchNode(f"no node named {MARKUP!r}"), 2), (TargetError(f"stack {MARKUP}: gone"), 1),
    (LocalError(f"boot of {MARKUP} failed"), 1),
])
def test_a_user_error_is_one_line_printed_as_it_is(error: Exception, code: int) -> None:
    assert ended(error) == (code, f"error: {error}\n", "")


def test_remote_stderr_holding_markup_is_printed_as_it_is() -> None:
    error = RemoteError("compute-0", "build", f"make failed: {MARKUP}", "fix [/the] source")
    assert ended(error) == (1, f"error: [compute-0] build failed: make failed: {MARKUP}\n  what to do: fix [/the] "
                               "source\n", "")


@pytest.mark.parametrize("bug", [KeyError("head"), AttributeError("'NoneType' object has no attribute 'mount'"),
                                 ValueError("a job's build needs nodes")])
def test_a_bug_is_shown_as_a_bug_with_its_traceback_not_as_a_user_error(bug: Exception) -> None:
    code, shown, stderr = ended(bug)
    assert code == 1 and shown == ""
    assert "Traceback (most recent call last)" in stderr
    assert f"{type(bug).__name__}: {bug}" in stderr
    assert stderr.rstrip().splitlines()[-1] == f"error: {BUG}"


def test_the_cli_console_prints_markup_and_emoji_codes_as_they_are() -> None:
    import invoke_tasks

    out = io.StringIO()
    console = text_console(file=out, force_terminal=True, color_system=None, width=300)
    console.print(MARKUP)
    assert out.getvalue() == f"{MARKUP}\n"
    assert (invoke_tasks.console._markup, invoke_tasks.console._emoji) == (False, False)


def test_a_table_of_names_and_remote_values_shows_them_as_they_are() -> None:
    from rich.table import Table

    out = io.StringIO()
    table = Table(title=f"environment {MARKUP}")
    table.add_column("node")
    table.add_column("mounts")
    table.add_row(MARKUP, "[bold]/scratch[/bold]")
    text_console(file=out, width=120).print(table, soft_wrap=False)
    assert f"environment {MARKUP}" in out.getvalue()
    assert f"│ {MARKUP} │ [bold]/scratch[/bold] │" in out.getvalue()


def test_a_long_line_stays_one_line_in_a_log() -> None:
    log = io.StringIO()
    line = "compute-0 /shared: /var/tmp/state/lab/shared (bind) already mounted " * 4
    text_console(file=log).print(line)
    assert log.getvalue() == f"{line}\n"


def test_a_node_name_holding_markup_is_one_line_as_typed(lab: Path) -> None:
    result = invoke(lab, "ssh", "-n", "lab", "--node", MARKUP)
    assert (result.returncode, result.stderr) == (2, "")
    assert result.stdout.splitlines() == [
        f"error: no node named {MARKUP!r} in environment 'lab' (nodes: head, compute-0)"]


UNBALANCED = "No closing quotation; quote the words as a shell would"


@pytest.mark.parametrize(("argv", "line"), [
    (["bench-network", "--timeout", "abc"], "--timeout 'abc': allowed: a whole number of at least 1"),
    (["submit-spark", "-x", "job.py", "-w", "1.5"], "--timeout '1.5': allowed: a whole number of at least 1"),
    (["run-task", "--timeout", "-3"], "--timeout '-3': allowed: a whole number of at least 1"),
    (["demo", "--nodes", "two"], "--nodes 'two': allowed: a whole number of at least 1"),
    (["run-task", "--command", "'oops"], "error: --command \"'oops\": " + UNBALANCED),
    (["submit-spark", "--args", "'oops"], "error: --args \"'oops\": " + UNBALANCED),
    (["submit-spark"], "submit-spark: give --script (a new job) or --attach ID (a running one)"),
    (["job", "--id", "x"], "--id 'x': allowed: a whole number of at least 1"),
    (["plan"], "plan: give --stack STACK or --spec FILE; stacks of this project: azure-containers-dev, azure-hpc-dev, "
               "azure-spark-dev, containers-dev, hpc-dev, local-dev, spark-dev"),
])
def test_a_bad_flag_value_is_one_line_and_exit_2(lab: Path, argv: list[str], line: str) -> None:
    result = invoke(lab, *argv)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (result.stdout + result.stderr).splitlines() == [line]


def test_run_mpi_args_with_an_open_quote_is_one_line_before_anything_is_reached(lab: Path) -> None:
    result = invoke(lab, "run-mpi", "--args", "'oops")
    assert result.returncode == 2
    assert (result.stdout + result.stderr).splitlines() == ["error: --args \"'oops\": " + UNBALANCED]


def test_a_misspelled_environment_gets_the_closest_name_and_the_list(lab: Path) -> None:
    result = invoke(lab, "status", "-n", "lav")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: no environment named 'lav' is known here; did you mean 'lab'? environments here: lab; stacks of this "
        "project: azure-containers-dev, azure-hpc-dev, azure-spark-dev, containers-dev, hpc-dev, local-dev, "
        "spark-dev"]


def test_a_name_close_to_nothing_gets_only_the_list(lab: Path) -> None:
    result = invoke(lab, "status", "-n", "zzzzzz")
    assert "did you mean" not in result.stdout and "environments here: lab;" in result.stdout


@pytest.mark.parametrize("task", ["up", "plan"])
def test_a_misspelled_stack_to_deploy_or_plan_gets_the_closest_name_and_the_list(lab: Path, task: str) -> None:
    result = invoke(lab, task, "-s", "azure-hpc-de")
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "error: stack 'azure-hpc-de': this project has no Pulumi.azure-hpc-de.yaml; did you mean 'azure-hpc-dev'? "
        "stacks of this project: azure-containers-dev, azure-hpc-dev, azure-spark-dev, containers-dev, hpc-dev, "
        "local-dev, spark-dev"]


def test_a_misspelled_stack_to_reach_gets_the_closest_name_and_the_list(lab: Path) -> None:
    result = invoke(lab, "mount", "-s", "spark-dv")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: no stack 'spark-dv' is known here, and the Pulumi CLI is not installed to ask for it "
        "(https://www.pulumi.com/docs/install/); did you mean 'spark-dev'? environments here: lab; stacks of this "
        "project: azure-containers-dev, azure-hpc-dev, azure-spark-dev, containers-dev, hpc-dev, local-dev, "
        "spark-dev"]


def test_a_stack_the_backend_lacks_gets_the_closest_of_its_stacks(lab: Path, fake_pulumi: FakePulumi) -> None:
    fake_pulumi.deploy("team-hpc", {})
    result = invoke(lab, "status", "-s", "team-hcp", env=fake_pulumi.env())
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("error: stack select: this project has no stack 'team-hcp' in the Pulumi backend")
    assert line.endswith("; did you mean 'team-hpc'? environments here: lab; stacks of this project: team-hpc")
