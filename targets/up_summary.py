"""What a cloud `up` is about to do, shown before it asks: the resources the program declares (by type), what the
stack already holds and would lose, which volumes it attaches rather than makes, and the cost per hour, from the
same offline plan as `invoke plan`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from targets.plan.cost_view import usd
from targets.plan.report import Plan


def summary_lines(plan: Plan, deployed: Iterable[tuple[str, str]]) -> list[str]:
    """Lines for the console: counts by type of what is new, kept (possibly updated) and deleted."""
    planned = {(r.type, r.name) for r in plan.resources if r.custom}
    existing = set(deployed)
    new, kept, gone = planned - existing, planned & existing, existing - planned
    lines = [f"{plan.env.name} on {plan.env.target} ({plan.region}): {len(planned)} resources: "
             f"{len(new)} to create, {len(kept)} already in the stack (updated where changed), {len(gone)} to delete"]
    for label, group in (("create", new), ("delete", gone)):
        for kind, count in sorted(Counter(kind for kind, _ in group).items()):
            lines.append(f"  {label} {count:>3} {kind}")
    lines += [f"note: {note}" for note in plan.notes]
    if plan.cost is not None:
        unpriced = f"; {len(plan.cost.unpriced)} item(s) not priced" if plan.cost.unpriced else ""
        lines.append(f"cost while running: about ${usd(plan.cost.per_hour_usd)} per hour, "
                     f"${usd(plan.cost.per_month_usd)} per month ({plan.cost.source}{unpriced})")
    return lines
