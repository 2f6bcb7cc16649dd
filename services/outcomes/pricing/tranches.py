"""Fixed and guaranteed tranches: payments scheduled by date, not linked to outcomes. Which of a payer's
tranche payments fall due in a statement period, each exact to the currency's minor unit, with the
working the ledger records. Pure: the same terms and period always give the same payments, in the same
order (by due date, then tranche code).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from services.outcomes.pricing.money import quantise, text


class TrancheKind(enum.Enum):
    FIXED = "fixed"
    GUARANTEED = "guaranteed"


@dataclass(frozen=True, slots=True)
class Tranche:
    code: str
    kind: TrancheKind
    payer: UUID
    payments: tuple[tuple[date, Decimal], ...]  # (due date, amount)


@dataclass(frozen=True, slots=True)
class TrancheDue:
    """One tranche payment falling due: what a statement line and its ledger event record."""

    code: str
    kind: TrancheKind
    payer: UUID
    due_date: date
    amount: Decimal
    instalment: int  # 1-based position in the tranche's schedule
    instalments: int


def basis(kind: TrancheKind) -> str:
    """Why a tranche is paid, in the words of its working."""
    match kind:
        case TrancheKind.FIXED:
            return "a fixed sum contracted for the service, due on its date"
        case TrancheKind.GUARANTEED:
            return "a guaranteed sum, due on its date whatever the outcomes"
        case _:
            assert_never(kind)


def due(
    tranches: Sequence[Tranche], payer: UUID, start: date, end: date, currency: str
) -> tuple[TrancheDue, ...]:
    """The payer's tranche payments due from `start` to `end` (both included), each exact to the currency's
    minor unit (`ValueError` otherwise), ordered by due date, then tranche code."""
    found = [
        TrancheDue(t.code, t.kind, t.payer, day, quantise(amount, currency), n, len(t.payments))
        for t in tranches
        if t.payer == payer
        for n, (day, amount) in enumerate(t.payments, start=1)
        if start <= day <= end
    ]
    return tuple(sorted(found, key=lambda d: (d.due_date, d.code)))


def working(payment: TrancheDue, currency: str) -> dict[str, str | int]:
    """The payment's working as the ledger records it: no participant, so nothing person-level."""
    return {
        "tranche_code": payment.code,
        "kind": payment.kind.value,
        "basis": basis(payment.kind),
        "due_date": payment.due_date.isoformat(),
        "instalment": payment.instalment,
        "instalments": payment.instalments,
        "amount": text(payment.amount, currency),
    }
