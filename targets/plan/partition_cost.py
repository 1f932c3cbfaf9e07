"""What each Slurm partition costs at its floor and at its ceiling.

The plan's total prices what runs from ``up`` on: the always-on (``min``) nodes. A partition's other nodes cost only
while jobs keep them up, and stop after the idle time; this says what the partition costs in both cases, so that a
user sees what ``max`` can spend before a job queue spends it. On-demand prices of the partition's first type (spot,
where asked, costs less; a later type in the list may cost more).
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.environment import Environment
from targets.plan.cost_view import usd
from targets.plan.prices import AzurePrices, RegionPrices


@dataclass(frozen=True)
class PartitionCost:
    name: str
    instance_type: str
    min: int
    max: int
    node_hour: float | None  # USD an hour for one node; None: the type is not in the price table
    idle_minutes: float
    hours_per_month: float

    def per_hour(self, nodes: int) -> float | None:
        return None if self.node_hour is None else nodes * self.node_hour

    def line(self) -> str:
        """One line: the range, its price at min and at max (an hour, a day, a month), and when nodes stop."""
        nodes = f"{self.min} to {self.max}" if self.min < self.max else str(self.max)
        head = f"partition {self.name}: {nodes} × {self.instance_type}, USD"
        if self.node_hour is None:
            return f"partition {self.name}: {nodes} × {self.instance_type}: not in the price table"
        floor, ceiling = self.per_hour(self.min) or 0.0, self.per_hour(self.max) or 0.0
        at_max = (f"{usd(ceiling)} an hour, {usd(ceiling * 24)} a day, {usd(ceiling * self.hours_per_month)} a month")
        if self.min == self.max:
            return f"{head} {at_max}, always on"
        return (f"{head} at min {usd(floor)} an hour ({usd(floor * self.hours_per_month)} a month), at max "
                f"{at_max}; nodes above min stop after {self.idle_minutes:g} min idle")

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "instance_type": self.instance_type, "min": self.min, "max": self.max,
                "node_per_hour_usd": self.node_hour,
                "at_min_per_hour_usd": self.per_hour(self.min), "at_max_per_hour_usd": self.per_hour(self.max),
                "idle_minutes": self.idle_minutes}


def partition_costs(env: Environment, prices: RegionPrices | AzurePrices) -> list[PartitionCost]:
    """Every Slurm partition of ``env`` priced from ``prices`` (the same table the plan's total comes from)."""
    table = prices.instances if isinstance(prices, RegionPrices) else prices.vm_hour
    return [PartitionCost(name=p.name, instance_type=p.instance_type or "?", min=p.min, max=p.max,
                          node_hour=table.get(p.instance_type or ""), idle_minutes=env.scaling.idle_minutes,
                          hours_per_month=prices.hours_per_month)
            for p in env.slurm_partitions]
