"""Ctrl-C held off while a rollback runs: an impatient user's second Ctrl-C would otherwise stop the rollback half
way and leave namespaces, loop devices and processes behind. SIGINT ignored is inherited by the commands the rollback
runs (``ip``, ``losetup``), which the terminal signals too, as members of the task's process group."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored inside the block (only the main thread may set a handler; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
