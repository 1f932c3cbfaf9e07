"""The errors every target raises when it cannot do what was asked; the message says what to do."""


class TargetError(RuntimeError):
    """A step failed (exit code 1)."""


class UsageError(TargetError):
    """What the user asked for cannot be right whatever the machine's state: a bad name, an unknown target
    (exit code 2, as for a bad spec)."""


class Interrupted(TargetError):
    """The user stopped the task (Ctrl-C) and what it had built was taken down (exit code 130, as a shell says
    of a command ended by SIGINT)."""
