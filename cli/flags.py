"""One short form per long flag, the same in every task: ``-n`` is always ``--name``, ``-s`` always ``--stack``,
``-f`` always ``--spec``. Invoke would derive short flags per task from the first free letter, which made ``-s``
``--spec`` in one task and ``--stack`` in the next; here they come from one table, and a flag not in it has none.
``-h`` stays invoke's ``--help``."""

from __future__ import annotations

from typing import Any

import invoke
from invoke.tasks import Task

SHORT_FLAGS = {
    "name": "n", "stack": "s", "spec": "f", "target": "t", "nodes": "N", "yes": "y", "format": "F",
    "live-prices": "L", "program": "p", "sbatch": "b", "binary": "B", "ntasks": "r", "args": "a", "partition": "P",
    "time": "T", "env": "e", "array": "A", "detach": "d", "timeout": "w", "id": "i", "script": "x", "input": "I",
    "output": "O", "attach": "j", "node": "H", "command": "c", "wide": "W", "min": "m", "gpus-per-node": "G",
}


class ToolkitTask(Task):
    """A task whose flags take their short forms from ``SHORT_FLAGS`` only."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        long = opts["names"][0]
        opts["names"] = [long, SHORT_FLAGS[long]] if long in SHORT_FLAGS else [long]
        return opts


def task(*args: Any, **kwargs: Any) -> Any:
    """``invoke.task`` for this project's tasks (the same arguments)."""
    return invoke.task(*args, klass=ToolkitTask, auto_shortflags=False, **kwargs)
