"""A partnership's aggregate results as they may be published: every count under the small-cell rule
(`kit/cells.py`), every amount with its count, totals only when complete. The output is plain JSON, stored
with a publication and read by the renderers; it never holds a withheld number.

The results are laid out over a fixed grid whatever the data (`Layout`): every outcome code of every
contract version that governed, in every month of the contracts' terms so far, and every such contract.
An exact reader's aggregates (an outcome payer's, who publishes) list only the months that had a claim;
were the exports to follow them, a cell's first appearance would give its first claim away (absent is
zero, withheld on the next export is one), and a contract's its first pending claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from kit import cells
from services.contracts.clients.outcomes import Aggregates, ContractResults
from services.contracts.disclosure.source import ContractFacts

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Layout:
    """What a publication lists whatever the data: its (outcome code, YYYY-MM) cells and its contracts
    (by id, with their currency)."""

    cells: frozenset[tuple[str, str]]
    contracts: Mapping[UUID, str]


def layout(contracts: Sequence[ContractFacts], today: date) -> Layout:
    """The grid of `contracts` on `today`: each contract's outcome codes (of every version that governed)
    in every month from its earliest start to its latest end, or `today` when that is sooner."""
    laid_out: set[tuple[str, str]] = set()
    for contract in contracts:
        versions = contract.versions
        codes = {o["code"] for v in versions for o in v.terms["outcomes"]}
        start = min(date.fromisoformat(v.terms["start_date"]) for v in versions)
        end = max(date.fromisoformat(v.terms["end_date"]) for v in versions)
        laid_out |= {(code, month) for code in codes for month in cells.months(start, min(end, today))}
    return Layout(frozenset(laid_out), {c.id: str(c.current.terms["currency"]) for c in contracts})


def publish(aggregates: Aggregates, threshold: int, grid: Layout) -> dict[str, Any]:
    """`aggregates` laid out over `grid`, with every small count (and what it would betray) withheld as
    null."""
    raw: dict[tuple[str, str], tuple[int | None, Decimal | None]] = {cell: (0, ZERO) for cell in grid.cells}
    for m in aggregates.verified:
        raw[m.outcome_code, m.month] = (m.verified, m.value)
    outcomes = cells.table(dict(sorted(raw.items())), threshold)
    rows = [
        {
            "outcome_code": code,
            "month": month,
            "verified": cell.count,
            "value": _money(cell.amount),
        }
        for (code, month), cell in outcomes.cells.items()
    ]
    listed = {c.contract_id: c for c in aggregates.contracts}
    for contract_id, currency in grid.contracts.items():
        listed.setdefault(contract_id, ContractResults(contract_id, currency, ZERO, 0, ZERO))
    contracts = []
    for c in sorted(listed.values(), key=lambda c: str(c.contract_id)):
        pending = None if c.pending_claims is None else cells.shown(c.pending_claims, threshold)
        contracts.append(
            {
                "contract_id": str(c.contract_id),
                "currency": c.currency,
                # What a contract earned sums its outcome cells: shown only when every cell is.
                "earned": _money(c.earned) if outcomes.complete else None,
                "pending_claims": pending,
                "pending_value": _money(c.pending_value) if pending is not None else None,
            }
        )
    return {
        "threshold": threshold,
        "laid_out": True,
        "engaged": None if aggregates.enrolled is None else cells.shown(aggregates.enrolled, threshold),
        "outcomes": rows,
        "total_verified": outcomes.total_count,
        "total_value": _money(outcomes.total_amount),
        "contracts": contracts,
    }


def lay_out(published: Mapping[str, Any], grid: Layout) -> dict[str, Any]:
    """Results `publish`ed before they were laid out (stored with an earlier publication) over `grid`: a
    cell or contract they lack had nothing, so it is added withheld, and the totals go with it."""
    if published.get("laid_out"):
        return dict(published)
    rows = {(r["outcome_code"], r["month"]): r for r in published["outcomes"]}
    missing = grid.cells - rows.keys()
    for code, month in missing:
        rows[code, month] = {"outcome_code": code, "month": month, "verified": None, "value": None}
    contracts = {c["contract_id"]: dict(c) for c in published["contracts"]}
    for contract_id, currency in grid.contracts.items():
        contracts.setdefault(
            str(contract_id),
            {
                "contract_id": str(contract_id),
                "currency": currency,
                "earned": None,
                "pending_claims": None,
                "pending_value": None,
            },
        )
    if missing:
        for c in contracts.values():
            c["earned"] = None
    return {
        **published,
        "laid_out": True,
        "outcomes": [rows[cell] for cell in sorted(rows)],
        "total_verified": None if missing else published["total_verified"],
        "total_value": None if missing else published["total_value"],
        "contracts": [contracts[c] for c in sorted(contracts)],
    }


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)
