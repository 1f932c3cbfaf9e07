"""What a cloud environment's destroy leaves in place on purpose, and the check after it: the leftover check looks
past these and names them, so a kept volume is neither reported as left behind nor forgotten."""

from __future__ import annotations

from dataclasses import dataclass, field

from spec.outputs import Outputs


@dataclass(frozen=True)
class Leftovers:
    """What still carries the environment's tag after destroy (``left``, each "type id") and what is kept on
    purpose, by kind ("retained volumes" -> ids)."""

    left: list[str]
    kept: dict[str, list[str]] = field(default_factory=dict)


def kept_ids(kept: dict[str, list[str]]) -> set[str]:
    """Every id kept, whatever its kind: what the leftover check looks past."""
    return {ident for idents in kept.values() for ident in idents}


def kept_volumes(contract: Outputs | None) -> dict[str, list[str]]:
    """The volumes destroy does not delete: retained ones (the next `up` attaches them again) and existing ones the
    stack only attached. Without outputs nothing is known to be kept."""
    volumes = contract.volumes if contract else []
    kinds = {"retained volumes": [v.volume_id for v in volumes if v.retain and v.volume_id],
             "existing volumes (only attached)": [v.volume_id for v in volumes if v.existing and v.volume_id]}
    return {kind: sorted(ids) for kind, ids in kinds.items() if ids}


def kept_line(kept: dict[str, list[str]]) -> str:
    """What ends the line after the check: nothing, or " but the retained volumes vol-1; the final snapshots
    snap-2"."""
    return " but " + "; ".join(f"the {kind} {', '.join(ids)}" for kind, ids in kept.items()) if kept else ""
