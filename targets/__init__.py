"""How an environment comes up and goes down: one interface, one module per backend.

Every target's ``up`` returns the outputs contract and records it under the state folder, so every
task after ``up`` reads the same file whatever the target (mrjob's runner idea: one job, many runners).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from spec.environment import Environment
from spec.outputs import Outputs
from targets.local import state


class TargetError(RuntimeError):
    """A target cannot do what was asked; the message says what to do instead."""


def up(env: Environment, console: Console) -> Outputs:
    if env.target != "local":
        raise TargetError(f"target {env.target}: the cloud targets are not available in this version yet; "
                          "use --target local")
    from targets.local import target

    return target.up(env, console)


def destroy(name: str, console: Console) -> None:
    """Take down environment ``name``, also one whose ``up`` died before writing its outputs."""
    from targets.local import target

    target.destroy(name, console)


def known_hosts_path(name: str) -> Path:
    """Where the OpenSSH known_hosts of environment ``name`` is kept (beside its outputs)."""
    return state.env_dir(name) / "known_hosts"


def outputs(name: str | None) -> Outputs:
    """The contract of the environment ``name``, or of the only one there is."""
    known = state.known_environments()
    if name is None:
        if len(known) != 1:
            hint = f"choose one with --name ({', '.join(known)})" if known else "run `invoke up` first"
            raise TargetError(f"{len(known)} environments are up: {hint}")
        name = known[0]
    path = state.outputs_path(name)
    if not path.exists():
        raise TargetError(f"no environment named {name!r} is up (known: {', '.join(known) or 'none'}); "
                          "run `invoke up` first")
    return Outputs.load(path)
