"""Run one step on many nodes at once, and report every node that failed, not just the first.

A cluster step (mount, install, check) is the same on each node; doing them one after the other makes
``up`` as slow as the sum of the nodes, and stopping at the first failure hides the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import paramiko
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from remote.errors import ConnectionLost, RemoteError
from remote.pool import Pool
from remote.progress import stamped

T = TypeVar("T")

MAX_WORKERS = 32
_STYLE = {"waiting": "dim", "running": "yellow", "done": "green", "failed": "bold red"}


def _reason(err: BaseException) -> str:
    if isinstance(err, RemoteError):
        return err.detail + (f" ({err.hint})" if err.hint else "")
    return f"{type(err).__name__}: {err}"


class _Progress:
    """One line per node (waiting/running/done/failed), live on a terminal; in a log, a stamped line for each
    node's change of state."""

    def __init__(self, names: list[str], step: str, console: Console | None) -> None:
        self.names = names
        self.step = step
        self.status = dict.fromkeys(names, "waiting")
        self.started: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self.lock = threading.Lock()
        self.console = console
        self.live = (
            Live(self._render(), console=console, refresh_per_second=4, transient=False)
            if console is not None and console.is_terminal
            else None
        )

    def __enter__(self) -> _Progress:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._render(), refresh=True)
            self.live.__exit__(None, None, None)

    def set(self, name: str, status: str) -> None:
        with self.lock:
            self.status[name] = status
            if status == "running":
                self.started[name] = time.monotonic()
            elif name in self.started:
                self.elapsed[name] = time.monotonic() - self.started[name]
        if self.live is not None:
            self.live.update(self._render())
        elif self.console is not None:
            took = f" in {self.elapsed[name]:.1f} s" if status != "running" and name in self.elapsed else ""
            stamped(self.console, f"{self.step} {name}: {status}{took}")

    def _render(self) -> Table:
        table = Table(title=Text(self.step), show_header=False, box=None, pad_edge=False)
        with self.lock:
            for name in self.names:
                status = self.status[name]
                seconds = self.elapsed.get(name)
                if seconds is None and name in self.started:
                    seconds = time.monotonic() - self.started[name]
                took = f"{seconds:.1f}s" if seconds is not None else ""
                table.add_row(Text(name), Text(status, style=_STYLE[status]), took)
        return table


def fan_out(
    pool: Pool,
    names: list[str],
    fn: Callable[[paramiko.SSHClient, str], T],
    *,
    step: str,
    console: Console | None = None,
    max_workers: int = MAX_WORKERS,
) -> dict[str, T]:
    """Run ``fn(client, name)`` for every node in ``names`` concurrently; return ``{name: result}``.

    Every node runs to the end even if others fail. If any failed, one RemoteError is raised after all
    finished: the node's own when only one failed with one, else one listing each failed node with its reason;
    either carries ``failures`` (name -> exception)
    and ``results`` (the nodes that succeeded). A node whose connection dropped is reset in the pool,
    so running the step again reconnects.
    """
    results: dict[str, T] = {}
    failures: dict[str, BaseException] = {}
    if not names:
        return results
    progress = _Progress(names, step, console)

    def one(name: str) -> None:
        progress.set(name, "running")
        try:
            results[name] = fn(pool.client(name), name)
        except Exception as err:  # collected and reported together below
            failures[name] = err
            if isinstance(err, ConnectionLost | paramiko.SSHException | EOFError | OSError):
                pool.reset(name)
            progress.set(name, "failed")
        else:
            progress.set(name, "done")

    with progress, ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(names)))) as executor:
        for future in [executor.submit(one, name) for name in names]:
            future.result()
    if failures:
        failed = [name for name in names if name in failures]
        only = failures[failed[0]] if len(failed) == 1 else None
        if isinstance(only, RemoteError):
            error = only  # one node failed: its own error, naming its node, step and remedy, is the whole story
        else:
            lines = "\n".join(f"  {name}: {_reason(failures[name])}" for name in failed)
            error = RemoteError(", ".join(failed), step, f"{len(failed)} of {len(names)} nodes failed:\n{lines}",
                                "fix the failures above and run the task again")
        error.failures = {name: failures[name] for name in failed}
        error.results = dict(results)
        raise error
    return {name: results[name] for name in names}
