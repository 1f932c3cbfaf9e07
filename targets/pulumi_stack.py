"""This project's Pulumi stacks through the Automation API: the one place the toolkit talks to the Pulumi CLI.

A stack's outputs are the outputs contract, whoever deployed it (this machine, a colleague, CI): every task after
`up` can read them here. The Automation API drives the `pulumi` executable on PATH; without it, one line says how
to get it. Every CLI failure becomes one line naming the step and the stack.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spec.loader import DEFAULT_PROJECT
from targets.errors import TargetError

if TYPE_CHECKING:
    from pulumi import automation

PROJECT = Path(__file__).resolve().parents[1]
INSTALL = "https://www.pulumi.com/docs/install/"
OnLine = Callable[[str], None]


class StackNotFound(TargetError):
    """The project has no stack of that name in the logged-in backend."""


def cli_available() -> bool:
    return shutil.which("pulumi") is not None


def require_cli() -> None:
    if not cli_available():
        raise TargetError(f"the Pulumi CLI is not installed ({INSTALL}): install it and log in (`pulumi login`), "
                          "or run `invoke plan` to see the stack offline")


@contextmanager
def _step(step: str, stack: str | None) -> Iterator[None]:
    from pulumi.automation import errors

    where = f" of stack {stack}" if stack else ""
    try:
        yield
    except errors.StackNotFoundError:
        raise StackNotFound(f"{step}: this project has no stack {stack!r} in the Pulumi backend you are logged in "
                            "to (`pulumi stack ls` lists them; `pulumi login` chooses the backend)") from None
    except errors.CommandError as exc:
        # str(exc) is the CLI's exit code, stdout and stderr; its last "error:" line says what went wrong
        lines = [line.strip().removeprefix("stderr:").removeprefix("stdout:").strip() for line in str(exc).splitlines()
                 if line.strip()]
        detail = next((line for line in reversed(lines) if line.startswith("error:")), lines[-1] if lines else "")
        raise TargetError(f"pulumi {step}{where} failed: {detail.removeprefix('error: ')[:300]}") from None


@functools.cache
def _workspace(project: Path) -> automation.LocalWorkspace:
    from pulumi import automation

    with _step("version", None):
        return automation.LocalWorkspace(work_dir=str(project))


def _stack(stack_name: str, *, create: bool = False) -> automation.Stack:
    from pulumi import automation

    require_cli()
    workspace = _workspace(PROJECT)
    with _step("stack select", stack_name):
        if create:
            return automation.Stack.create_or_select(stack_name, workspace)
        return automation.Stack.select(stack_name, workspace)


def list_stacks() -> list[str]:
    """This project's stacks in the logged-in backend."""
    require_cli()
    with _step("stack ls", None):
        return sorted(summary.name for summary in _workspace(PROJECT).list_stacks())


def outputs(stack_name: str) -> dict[str, Any]:
    """The stack's outputs with secrets revealed (they go to a 0600 file, never to the screen); ``{}`` for a
    stack that exists but has nothing deployed."""
    stack = _stack(stack_name)
    with _step("stack output", stack_name):
        return {key: value.value for key, value in stack.outputs().items()}


def config(stack_name: str) -> dict[str, str]:
    """The stack's config as the program sees it (files, `pulumi config set`, ESC environments), secrets revealed;
    objects as JSON text, as the engine hands them to the program."""
    stack = _stack(stack_name)
    with _step("config", stack_name):
        return {key: item.value for key, item in stack.get_all_config().items()}


def set_config_path(stack_name: str, path: str, value: str) -> None:
    """``pulumi config set --path <project>:<path> <value>``: the stack's own config changes, as a user's would."""
    from pulumi.automation import ConfigValue

    stack = _stack(stack_name, create=True)
    with _step("config set", stack_name):
        stack.set_config(f"{DEFAULT_PROJECT}:{path}", ConfigValue(value), path=True)


def resources(stack_name: str) -> list[tuple[str, str]]:
    """``(type, name)`` of every resource in the stack's state (what destroy would delete)."""
    stack = _stack(stack_name)
    with _step("stack export", stack_name):
        deployment = stack.export_stack().deployment or {}
    return [(r["type"], r["urn"].rsplit("::", 1)[-1]) for r in deployment.get("resources", [])
            if not r["type"].startswith("pulumi:")]


def up(stack_name: str, on_line: OnLine) -> dict[str, Any]:
    """Deploy the stack (the project's program, reading the stack's config) and return its outputs."""
    stack = _stack(stack_name, create=True)
    with _step("up", stack_name):
        result = stack.up(on_output=on_line, color="never")
    return {key: value.value for key, value in result.outputs.items()}


def destroy(stack_name: str, on_line: OnLine) -> None:
    stack = _stack(stack_name)
    with _step("destroy", stack_name):
        stack.destroy(on_output=on_line, color="never")
