"""The plan's cost as rich renderables built from ``Text`` (never markup): a compact table that fits 80 columns
(what, per hour, per month) or, with ``--wide``, every column. Numbers never wrap: they hold no space and their
columns never fold. Each part of a line's note (why a line is an estimate, what is not counted) is a numbered
footnote said once under the table, however many lines point to it.
Money has two decimals and thousands separators; a line without a price says "not priced" and a line billed only
by use (EFS storage, log ingestion) "per use", never a free-looking 0.00."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from targets.plan.cost import Cost, CostLine

NOT_PRICED = "not priced"
PER_USE = "per use"


def usd(value: float) -> str:
    """Two decimals with thousands separators; a positive amount under a cent is ``<0.01``, never a free-looking
    ``0.00``."""
    return "<0.01" if 0 < value < 0.005 else f"{value:,.2f}"


def unit_usd(value: float) -> str:
    """A unit price keeps the decimals it has (``0.005`` an address-hour), two at least."""
    text = f"{value:,.6f}".rstrip("0")
    return text if len(text.partition(".")[2]) >= 2 else f"{value:,.2f}"


def shared_notes(lines: Sequence[CostLine]) -> list[str]:
    """The note parts every priced line carries (a whole table priced from another region's rates)."""
    parts = [set(_parts(line)) for line in lines if line.per_hour_usd is not None]
    return sorted(set.intersection(*parts)) if parts else []


def _parts(line: CostLine) -> list[str]:
    return [part for part in (line.note or "").split("; ") if part]


def cost_view(cost: Cost, *, wide: bool = False) -> RenderableType:
    """The cost table, its footnotes and the total on one line."""
    shared = shared_notes(cost.lines)
    footnotes: dict[str, int] = {}
    table = Table(title=Text("cost while running (USD)", style="bold"), title_justify="left", expand=False)
    table.add_column("resource: item" if wide else "what", overflow="fold", ratio=1)
    numbers = ("quantity", "unit price", "per hour", "per day", "per month") if wide else ("per hour", "per month")
    for column in numbers:
        table.add_column(column, justify="right", no_wrap=True)
    for line in cost.lines:
        refs = [footnotes.setdefault(part, len(footnotes) + 1) for part in _parts(line) if part not in shared]
        what = Text(f"{line.resource}: {line.item}")
        if refs:
            what.append(" " + "".join(f"({ref})" for ref in refs), style="dim")
        table.add_row(what, *_figures(line, cost.hours_per_month, wide))
    captions = [Text(f"({ref}) {part}", style="dim") for part, ref in footnotes.items()]
    captions += [Text(f"every line: {part}", style="dim") for part in shared]
    unpriced = (f"; {len(cost.unpriced)} line(s) {NOT_PRICED}, left out of the total" if cost.unpriced else "")
    captions.append(Text(f"prices: {cost.source}; a month is {cost.hours_per_month:g} hours{unpriced}", style="dim"))
    total = Text.assemble(("total (USD): ", "bold"), (usd(cost.per_hour_usd), "bold"), " an hour, ",
                          (usd(cost.per_day_usd), "bold"), " a day, ", (usd(cost.per_month_usd), "bold"), " a month")
    return Group(table, *captions, total)


def _figures(line: CostLine, hours_per_month: float, wide: bool) -> list[Text]:
    """per hour and per month; wide: quantity, unit price, per hour, per day and per month."""
    if line.per_hour_usd is None:
        hour, day, month = Text(NOT_PRICED, style="yellow"), Text(""), Text("")
    elif line.per_hour_usd == 0 and line.quantity == 0:  # billed by use, of which a new resource has none
        hour, day, month = Text(PER_USE, style="dim"), Text(""), Text("")
    else:
        hour, day = Text(usd(line.per_hour_usd)), Text(usd(line.per_hour_usd * 24))
        month = Text(usd(line.per_hour_usd * hours_per_month))
    if not wide:
        return [hour, month]
    unit = "—" if line.unit_usd is None else unit_usd(line.unit_usd)
    return [Text(f"{line.quantity:g} {line.unit}"), Text(unit), hour, day, month]
