"""The small-cell rule (kit/cells.py) on what the outcome service gives readers without person-level
rights: the partnership aggregates and their file export, a statement's totals by outcome for readers of
totals only, and `statement.summarised`. Who reads exact counts is `access.reads_exact_counts`; the
threshold is the partnership's, read from the registry (`ContractsClient.small_cell_threshold`).

Every count is shown only above the threshold k, and every figure a reader could turn back into a
withheld count is withheld with it (the decisions, with why, are in docs/open-data.md):

- **Participants.** Per contract, enrolled beside exited (`cells.part_of`: exited is withheld also when
  the participants still active, enrolled minus exited, are k or fewer). The partnership's enrolled and
  exited sum the contracts' and are shown only when every contract's is (`statement.summarised` names
  one contract's, so a partnership total beside it would give the other's away).
- **Verified outcomes** per outcome and month, laid out over every outcome code of every contract's
  terms in every month of its term so far, whatever the data (`grid`): were a cell listed only once it
  had a claim, its absence would show a zero, and its first appearance one. A cell's value (payable at
  public prices) goes with its count.
- **Earned and remaining cap** per contract: what a contract earned sums its verified claims, and the
  remaining cap is its cap minus what was paid, so both are amounts built from counts. They are shown
  only when every verified cell beneath them, per contract, outcome and month of the grid, is above k;
  of every
  contract, since the partnership's cells merge contracts and one contract's earned subtracted from them
  would leave the other's. The contract cap is the terms', not a count: always shown.
- **Pending claims** per contract (every contract ever in force is listed, with or without participants),
  and their value (count times a public price) with them.
- **A statement's totals by outcome** (readers of totals only): its claim and adjustment line counts; the
  outcome's amounts (tariff, cut, paid) only when both counts are shown; the statement's own totals only
  when every outcome's amounts are. Tranche payments name no claim or person: always shown.
- **A statement's audit totals** (readers of totals only): each audit's clawback lines (claims found
  invalid), and its amounts only with them: what was clawed back is those claims' paid amounts (at public
  prices), the extrapolation is the error rate by that value times the unsampled value, and the audit's
  amount sums both. The statement's own totals are shown only when every audit's amounts are too.
- **An audit's totals** (`GET /payment-audits`, readers other than the provider and the auditing payer):
  its population count, and its value and sample size with it; its clawed-back and extrapolated amounts
  with its count of invalid claims; its working only when every count in it is shown.
- **`statement.summarised`**: the same for its lines per outcome and kind (a tranche's lines are not a
  count of people), its total, its contract's enrolled and exited, and its remaining cap (with the
  partnership's earned). It is one event for every partner, so it is published under the rule for all of
  them, with the threshold it used; readers of lines have them, exactly, on the statement.

A withheld figure is `None`, and each object names its withheld fields in `suppressed`, so a reader can
tell a withheld remaining cap from a contract without a cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from kit import cells
from services.outcomes.clients.contracts import CellLayout
from services.outcomes.statements.tallies import PartnershipTotals

ZERO = Decimal(0)


def participants(
    by_contract: Mapping[UUID, tuple[int, int]], threshold: int
) -> tuple[int | None, int | None]:
    """The partnership's (enrolled, exited) as published, from each contract's."""
    published = {
        c: cells.part_of(enrolled, exited, threshold) for c, (enrolled, exited) in by_contract.items()
    }
    enrolled = cells.table({c: (e, None) for c, (e, _) in published.items()}, threshold).total_count
    exited = cells.table({c: (x, None) for c, (_, x) in published.items()}, threshold).total_count
    return enrolled, exited


def grid(layout: CellLayout, today: date) -> set[tuple[UUID, str, str]]:
    """The verified cells per contract, outcome and month that are published whatever the data: every
    outcome code of a contract's terms in every month of its term so far. A cell only ever appearing
    with data would give its first claim away (zero shown by absence, then one)."""
    return {
        (contract_id, code, month)
        for contract_id, c in layout.contracts.items()
        for code in c.codes
        for month in cells.months(c.start, min(c.end, today))
    }


def earned_shown(totals: PartnershipTotals, laid_out: set[tuple[UUID, str, str]], threshold: int) -> bool:
    """Whether what the contracts earned (and their remaining caps) may be shown: every verified cell per
    contract, outcome and month of the grid (and any the data adds) is above the threshold, and there is
    one."""
    every = laid_out | set(totals.verified_claims)
    return bool(every) and all(
        cells.shown(totals.verified_claims.get(cell, 0), threshold) is not None for cell in every
    )


def aggregates(
    exact: dict[str, Any], totals: PartnershipTotals, layout: CellLayout, today: date
) -> dict[str, Any]:
    """`exact` (the aggregates as `partnership_aggregates` builds them) under the rule, laid out over
    every contract, outcome and month the terms give (`grid`), so a zero reads like any small count."""
    threshold = layout.threshold
    laid_out = grid(layout, today)
    by_contract = {c: (0, 0) for c in layout.contracts} | totals.participants
    enrolled, exited = participants(by_contract, threshold)
    raw: dict[tuple[str, str], tuple[int | None, Decimal | None]] = {
        (code, month): (0, ZERO) for _, code, month in laid_out
    }
    for m in exact["verified_outcomes"]:
        raw[m["outcome_code"], m["month"]] = (m["verified"], m["value"])
    table = cells.table(dict(sorted(raw.items())), threshold)
    earned = earned_shown(totals, laid_out, threshold)
    entries = {c["contract_id"]: c for c in exact["contracts"]}
    for contract_id, c in layout.contracts.items():
        entries.setdefault(
            contract_id,
            {
                "contract_id": contract_id,
                "currency": c.currency,
                "earned": ZERO,
                "pending_claims": 0,
                "pending_value": ZERO,
                "contract_cap": c.cap,
                "remaining_cap": c.cap,
            },
        )
    contracts = []
    for c in sorted(entries.values(), key=lambda c: str(c["contract_id"])):
        pending = cells.shown(c["pending_claims"], threshold)
        contracts.append(
            {
                **c,
                "earned": c["earned"] if earned else None,
                "remaining_cap": c["remaining_cap"] if earned else None,
                "pending_claims": pending,
                "pending_value": c["pending_value"] if pending is not None else None,
                "suppressed": [
                    *(() if earned else ("earned",)),
                    *(() if pending is not None else ("pending_claims", "pending_value")),
                    *(() if earned or c["contract_cap"] is None else ("remaining_cap",)),
                ],
            }
        )
    return {
        **exact,
        "small_cell_threshold": threshold,
        "enrolled": enrolled,
        "exited": exited,
        "suppressed": [name for name, v in (("enrolled", enrolled), ("exited", exited)) if v is None],
        "verified_outcomes": [
            {
                "outcome_code": code,
                "month": month,
                "verified": cell.count,
                "value": cell.amount,
                "suppressed": ["verified", "value"] if cell.suppressed else [],
            }
            for (code, month), cell in table.cells.items()
        ],
        "contracts": contracts,
    }


_ROW_AMOUNTS = ("tariff_share", "cut_share", "amount")
STATEMENT_TOTALS = ("total_tariff", "total_cut", "total")


def statement_outcomes(rows: list[dict[str, Any]], threshold: int) -> tuple[list[dict[str, Any]], bool]:
    """A statement's totals by outcome (`outcome_totals_of`) under the rule, and whether every outcome's
    amounts are shown (the statement's own totals may be)."""
    published: list[dict[str, Any]] = []
    for row in rows:
        claims = cells.shown(row["claim_lines"], threshold)
        adjustments = cells.shown(row["adjustment_lines"], threshold)
        amounts = claims is not None and adjustments is not None
        published.append(
            {
                **row,
                "claim_lines": claims,
                "adjustment_lines": adjustments,
                **{name: row[name] if amounts else None for name in _ROW_AMOUNTS},
                "suppressed": [
                    *(() if claims is not None else ("claim_lines",)),
                    *(() if adjustments is not None else ("adjustment_lines",)),
                    *(() if amounts else _ROW_AMOUNTS),
                ],
            }
        )
    return published, all(not row["suppressed"] for row in published)


# Lines that count no people: a payment by date (a tranche's, a variation's scenario payment) or an approved
# cohort payment (one per cohort and period). An audit's extrapolation is not one of them: its amount follows
# the invalid claims' value, so it is withheld with them (`audit`).
NOT_COUNTS_OF_PEOPLE = frozenset({"tranche", "variation", "cohort"})


_AUDIT_AMOUNTS = ("clawed_back", "extrapolated", "amount")


def statement_audits(rows: list[dict[str, Any]], threshold: int) -> tuple[list[dict[str, Any]], bool]:
    """A statement's audit totals (`audit_totals_of`) under the rule, and whether every audit's amounts
    are shown (the statement's own totals may be only then)."""
    published: list[dict[str, Any]] = []
    for row in rows:
        lines = cells.shown(row["clawback_lines"], threshold)
        published.append(
            {
                **row,
                "clawback_lines": lines,
                **{name: row[name] if lines is not None else None for name in _AUDIT_AMOUNTS},
                "suppressed": [] if lines is not None else ["clawback_lines", *_AUDIT_AMOUNTS],
            }
        )
    return published, all(not row["suppressed"] for row in published)


_AUDIT_COUNTS = ("population_claims", "sampled_claims", "invalid_claims", "unsampled_claims")


def audit(population_claims: int, working: Mapping[str, Any] | None, threshold: int) -> dict[str, Any]:
    """An audit's figures for a reader of its totals only (`AuditRead` overrides): its population count
    and value (the value is those claims' paid amounts, at public prices); the sample size with them (it
    is the rule's, held to the population); what it clawed back and extrapolated with the count of
    invalid claims (`working`), and the working only when every count in it is shown."""
    population = cells.shown(population_claims, threshold)
    invalid = None if working is None else cells.shown(int(working["invalid_claims"]), threshold)
    shows_working = working is not None and all(
        working.get(name) is None or cells.shown(int(working[name]), threshold) is not None
        for name in _AUDIT_COUNTS
    )
    withheld: dict[str, None] = {}
    if population is None:
        withheld |= dict.fromkeys(("population_claims", "population_value", "sample_size"))
    if working is not None and invalid is None:
        withheld |= dict.fromkeys(("clawed_back", "extrapolated"))
    if working is not None and not shows_working:
        withheld["working"] = None
    return {**withheld, "small_cell_threshold": threshold, "suppressed": list(withheld)}


def summary(
    exact: dict[str, Any],
    participants_of_contract: tuple[int, int],
    *,
    earned: bool,
    threshold: int,
) -> dict[str, Any]:
    """`statement.summarised`'s data (exact) under the rule; `earned`: whether the partnership's earned
    may be shown (`earned_shown`), which the remaining cap follows."""
    rows = []
    for row in exact["outcomes"]:
        if row["kind"] in NOT_COUNTS_OF_PEOPLE:
            rows.append({**row, "suppressed": []})
            continue
        lines = cells.shown(row["lines"], threshold)
        rows.append(
            {
                **row,
                "lines": lines,
                "amount": row["amount"] if lines is not None else None,
                "suppressed": [] if lines is not None else ["lines", "amount"],
            }
        )
    complete = all(not row["suppressed"] for row in rows)
    enrolled, exited = cells.part_of(*participants_of_contract, threshold)
    remaining = exact["remaining_cap"] if earned else None
    withheld = [
        *(() if complete else ("total",)),
        *(() if enrolled is not None else ("enrolled",)),
        *(() if exited is not None else ("exited",)),
        *(() if earned or exact["remaining_cap"] is None else ("remaining_cap",)),
    ]
    return {
        **exact,
        "small_cell_threshold": threshold,
        "total": exact["total"] if complete else None,
        "outcomes": rows,
        "enrolled": enrolled,
        "exited": exited,
        "remaining_cap": remaining,
        "suppressed": withheld,
    }
