"""A partnership's aggregate results as they may be published: every count under the small-cell rule
(`kit/cells.py`), every amount with its count, totals only when complete. The output is plain JSON, stored
with a publication and read by the renderers; it never holds a withheld number."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kit import cells
from services.contracts.clients.outcomes import Aggregates


def publish(aggregates: Aggregates, threshold: int) -> dict[str, Any]:
    """`aggregates` with every small count (and what it would betray) withheld as null."""
    outcomes = cells.table(
        {(m.outcome_code, m.month): (m.verified, m.value) for m in aggregates.verified}, threshold
    )
    rows = [
        {
            "outcome_code": code,
            "month": month,
            "verified": cell.count,
            "value": _money(cell.amount),
        }
        for (code, month), cell in sorted(outcomes.cells.items())
    ]
    contracts = []
    for c in sorted(aggregates.contracts, key=lambda c: str(c.contract_id)):
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
        "engaged": None if aggregates.enrolled is None else cells.shown(aggregates.enrolled, threshold),
        "outcomes": rows,
        "total_verified": outcomes.total_count,
        "total_value": _money(outcomes.total_amount),
        "contracts": contracts,
    }


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)
