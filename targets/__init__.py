"""How an environment comes up and goes down: one interface, one module per backend.

Every target's ``up`` returns the outputs contract and records it under the state folder, so every
task after ``up`` reads the same file whatever the target (mrjob's runner idea: one job, many runners).
Backends are imported only when used: the local target never loads Pulumi or boto3.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from spec.environment import Environment
from spec.outputs import ENVIRONMENT_TAG, AzureScope, Node, Outputs
from targets import state
from targets.errors import TargetError

__all__ = ["TargetError", "up", "destroy", "outputs", "known_hosts_path"]
# How long `up` waits for a cloud scaling group's nodes to run (capacity is granted asynchronously).
FLEET_TIMEOUT = 900.0


def up(env: Environment, console: Console, stack: str | None = None) -> Outputs:
    if env.target == "local":
        from targets.local import target

        return target.up(env, console)
    if stack is None:
        raise TargetError(f"target {env.target}: give --stack NAME (the spec is read from Pulumi.<NAME>.yaml)")
    from targets import pulumi_stack

    contract = pulumi_stack.up(env, stack, console)
    if contract.fleet is not None:
        with console.status(f"waiting for {contract.fleet.expected} compute nodes to run"):
            nodes = _wait_for_fleet(contract, FLEET_TIMEOUT)
        console.print(f"{len(nodes)} compute nodes running: {', '.join(n.name for n in nodes)}")
    return contract


def destroy(name: str, console: Console, confirm: Callable[[list[str]], bool] = lambda _: True) -> None:
    """Take down environment ``name`` (also one whose ``up`` died before writing its outputs).

    For a cloud stack, ``confirm`` sees what will be deleted first; afterwards nothing carrying the
    environment's tag may remain but its retained volumes.
    """
    path = state.outputs_path(name)
    contract = Outputs.load(path) if path.exists() else None
    if contract is None or contract.target == "local":
        from targets.local import target

        target.destroy(name, console)
        return
    from targets import pulumi_stack

    stack = (state.env_dir(name) / "stack").read_text().strip()
    if not confirm(pulumi_stack.resources(stack)):
        raise TargetError("not confirmed: nothing was destroyed")
    pulumi_stack.destroy(stack, console)
    _check_leftovers(contract, console)
    shutil.rmtree(state.env_dir(name))


def _check_leftovers(contract: Outputs, console: Console) -> None:
    """Nothing tagged with the environment's name may remain but its retained volumes."""
    kept = {v.volume_id for v in contract.volumes if v.retain and v.volume_id}
    if contract.target == "aws":
        import boto3

        from targets.aws.leftovers import tagged_leftovers

        left = tagged_leftovers(boto3.Session(region_name=contract.region), ENVIRONMENT_TAG, contract.name,
                                keep=kept)
    else:
        from targets.azure import leftovers, session

        left = leftovers.tagged_leftovers(session.for_scope(_azure_scope(contract)), ENVIRONMENT_TAG,
                                          contract.name, keep=kept)
    if left:
        raise TargetError(f"destroyed, but {len(left)} tagged resource(s) remain: {'; '.join(left[:5])}")
    console.print(f"checked: nothing tagged {ENVIRONMENT_TAG}={contract.name} remains"
                  + (f" but the retained volumes {', '.join(sorted(kept))}" if kept else ""))


def known_hosts_path(name: str) -> Path:
    """Where the OpenSSH known_hosts of environment ``name`` is kept (beside its outputs)."""
    return state.env_dir(name) / "known_hosts"


def outputs(name: str | None) -> Outputs:
    """The contract of the environment ``name`` (or of the only one there is), compute fleet found."""
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
    contract = Outputs.load(path)
    if contract.fleet and not contract.computes:
        contract = contract.model_copy(update={"computes": _fleet_nodes(contract)})
    return contract


def _fleet_nodes(contract: Outputs) -> list[Node]:
    """The compute fleet's running nodes, asked of the cloud that runs them."""
    assert contract.fleet is not None
    if contract.fleet.provider == "aws":
        import boto3

        from targets.aws.discovery import compute_nodes

        return compute_nodes(boto3.Session(region_name=contract.fleet.region), contract.fleet)
    from targets.azure import discovery, session

    scope = _azure_scope(contract)
    return discovery.compute_nodes(session.for_scope(scope), scope, contract.fleet)


def _wait_for_fleet(contract: Outputs, timeout: float) -> list[Node]:
    assert contract.fleet is not None
    if contract.fleet.provider == "aws":
        import boto3

        from targets.aws.discovery import wait_for_nodes

        return wait_for_nodes(boto3.Session(region_name=contract.fleet.region), contract.fleet, timeout)
    from targets.azure import discovery, session

    scope = _azure_scope(contract)
    return discovery.wait_for_nodes(session.for_scope(scope), scope, contract.fleet, timeout)


def _azure_scope(contract: Outputs) -> AzureScope:
    if contract.azure is None:
        raise TargetError(f"environment {contract.name!r}: its outputs name no Azure subscription and resource "
                          "group (written by an older version): run `invoke up` again to refresh them")
    return contract.azure
