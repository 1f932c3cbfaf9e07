"""The one error type of ``remote/``: every failure says which node, which step, and what to do next.

Tasks catch ``RemoteError`` and print it; nothing in ``remote/`` lets a bare paramiko or socket exception
escape to the user, because those name neither the node nor the step.
"""

from __future__ import annotations


class RemoteError(Exception):
    """A step on a node failed. ``str(err)`` is the full, user-facing message."""

    def __init__(self, node: str, step: str, detail: str, hint: str = "") -> None:
        self.node = node
        self.step = step
        self.detail = detail
        self.hint = hint
        # fan_out fills these in: the reason of each failed node, and the results of the others.
        self.failures: dict[str, BaseException] = {}
        self.results: dict[str, object] = {}
        super().__init__(node, step, detail, hint)

    def __str__(self) -> str:
        text = f"[{self.node}] {self.step} failed: {self.detail}"
        if self.hint:
            text += f"\n  what to do: {self.hint}"
        return text

    def __reduce__(self) -> tuple[type, tuple[str, str, str, str]]:
        return (type(self), (self.node, self.step, self.detail, self.hint))


class ConnectionLost(RemoteError):
    """The SSH connection dropped under a command: the caller may reset the pool and try again."""


class CommandTimeout(RemoteError):
    """A command did not finish in its time limit (on a poll, usually a silently dead connection)."""


class SlurmUnanswered(RemoteError):
    """``scontrol`` could not say how a job stands (slurmctld down or restarting): a poll may ask again a while."""


class HostKeyMismatch(RemoteError):
    """The node offered a host key other than the one pinned in the outputs: never retried."""

    def __init__(self, node: str, address: str, expected: str, offered: str) -> None:
        self.address = address
        self.expected = expected
        self.offered = offered
        super().__init__(
            node,
            "connect",
            f"host key mismatch for node {node} at {address}: expected {expected} (pinned in the outputs), "
            f"the server offered {offered}",
            "the node was replaced or the connection is intercepted; if you rebuilt the environment, "
            "run `invoke up` again to refresh the pinned keys",
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, str, str]]:  # type: ignore[override]
        return (type(self), (self.node, self.address, self.expected, self.offered))


class BadInput(Exception):
    """What the user gave cannot be right whatever the cluster's state (a flag's value, a program that is not
    there, a kind of file the toolkit cannot run): exit code 2, as for a bad spec. ``str(err)`` is one line that
    names the flag or file and what is allowed."""
