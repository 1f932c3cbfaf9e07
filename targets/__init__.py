"""How an environment comes up, is found again and goes down, whatever its target.

Every task goes through here: the environment is found by name or Pulumi stack (``targets.environments``), its
backend (``targets.registry``) gives the outputs contract, finds the compute nodes, runs one-off work and takes it
down. Backends are imported only when used: the local target never loads Pulumi or boto3.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from spec.environment import Environment
from spec.outputs import Outputs
from targets import env_lock, environments, state
from targets.backend import Backend, ConfirmDestroy, Record, UpRequest
from targets.errors import TargetError, UsageError
from targets.registry import backend_for

__all__ = ["Backend", "Record", "TargetError", "UpRequest", "UsageError", "backend_for", "contract", "destroy",
           "find", "known_hosts_path", "up"]


def up(env: Environment, console: Console, request: UpRequest = UpRequest()) -> Outputs:
    with env_lock.held(env.name, "up"):
        return backend_for(env.target).up(env, request, console)


def find(name: str | None, stack: str | None = None) -> Record:
    return environments.find(name, stack)


def contract(record: Record, console: Console) -> Outputs:
    """The environment's outputs contract with its running compute nodes."""
    backend = backend_for(record.target)
    found = backend.contract(record, console)
    if (found.fleet is not None and not found.computes) or found.elastic_nodes():
        found = found.model_copy(update={"computes": backend.compute_nodes(found)})
    return found


def scale(record: Record, partition: str, floor: int, console: Console) -> Outputs:
    """Move a partition's floor in the running environment, under its lock (no `up` or `destroy` meanwhile)."""
    with env_lock.held(record.name, "scale"):
        backend = backend_for(record.target)
        return backend.scale(record, backend.contract(record, console), partition, floor, console)


def destroy(name: str | None, console: Console, confirm: ConfirmDestroy = lambda _name, _resources: True,
            stack: str | None = None) -> None:
    """Take down environment ``name`` or the one of ``stack`` (also one whose ``up`` died half way)."""
    record = environments.find(name, stack, for_destroy=True)
    with env_lock.held(record.name, "destroy"):
        backend_for(record.target).destroy(record, console, confirm)


def known_hosts_path(name: str) -> Path:
    """Where the OpenSSH known_hosts of environment ``name`` is kept (beside its outputs)."""
    return state.env_dir(name) / "known_hosts"
