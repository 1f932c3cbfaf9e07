"""How a task ends when something goes wrong. The user's own mistakes and failed steps are errors of the toolkit's
own types, each one line (exit 2 for input that cannot be right, 1 for a step that failed, 130 for a task the user
stopped with Ctrl-C); any other exception is a bug in the toolkit, shown as one, with its traceback and exit code 1,
never dressed as a mistake of the user's."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any

from invoke.exceptions import Exit, Failure, ParseError
from rich.console import Console
from rich.text import Text

BUG = ("this is a bug in cloud-hpc-toolkit, not a mistake in your input: please report it with the traceback "
       "above")


def user_error_types() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(bad input: exit 2, failed step: exit 1). Imported when a task ends, so a task's imports stay its own."""
    from remote.errors import BadInput, RemoteError
    from spec.outputs import NoSuchNode
    from targets.errors import TargetError, UsageError
    from targets.local.commands import LocalError

    return (UsageError, BadInput, NoSuchNode), (RemoteError, LocalError, TargetError)


def task_errors(console: Console) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator for tasks: their errors become one line on ``console`` and an exit code."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from spec.errors import SpecError

            try:
                return fn(*args, **kwargs)
            except (Exit, Failure, ParseError):
                raise  # invoke's own: the task already decided its line and exit code
            except SpecError as exc:
                print(str(exc), file=sys.stderr)
                raise Exit(code=2) from None
            except Exception as exc:
                bad_input, failed_step = user_error_types()
                if not isinstance(exc, bad_input + failed_step):
                    traceback.print_exc()
                    print(f"error: {BUG}", file=sys.stderr)
                    raise Exit(code=1) from None
                from targets.errors import Interrupted

                console.print(Text.assemble(("error:", "red"), " ", str(exc)), soft_wrap=True)
                raise Exit(code=2 if isinstance(exc, bad_input) else 130 if isinstance(exc, Interrupted) else 1
                           ) from None

        return wrapper

    return decorate
