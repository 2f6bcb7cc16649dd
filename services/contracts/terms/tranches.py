"""Fixed and guaranteed tranches: payments scheduled by date, not linked to outcomes (a service fee, a
guarantor's payment). Each tranche names its payer, an outcome payer of the contract, and lists its
payments by due date; the outcome service books each payment once, on the statement of the period its
due date falls in.

A tranche is not an outcome payment, so outcome caps do not bind it; what the contract can pay in all
(caps plus tranches) must still fit what the outcome service stores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import Field

from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Money, inexact
from services.contracts.terms.names import Code, Wording
from services.contracts.terms.strict import Strict

TrancheKind = Literal["fixed", "guaranteed"]


class TranchePayment(Strict):
    due_date: date = Field(description="The payment falls in the statement period this date falls in")
    amount: Money


class Tranche(Strict):
    code: Code
    name: Wording = Field(min_length=1, max_length=200)
    kind: TrancheKind = Field(
        description="`fixed`: a contracted fee for the service; `guaranteed`: a sum a party guarantees "
        "to pay whatever the outcomes. Both are paid on their dates, whatever is achieved."
    )
    payer_organisation_id: UUID
    payments: list[TranchePayment] = Field(min_length=1, max_length=240)


def tranche_issues(
    tranches: Sequence[Tranche], payers: Sequence[UUID], start: date, end: date, currency: str
) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, tranche in enumerate(tranches):
        at = f"tranches.{i}"
        if tranche.code in seen:
            yield Issue(f"{at}.code", f"duplicate tranche code {tranche.code!r}")
        seen.add(tranche.code)
        if tranche.payer_organisation_id not in payers:
            yield Issue(f"{at}.payer_organisation_id", "must be an outcome_payer party")
        previous: date | None = None
        for j, payment in enumerate(tranche.payments):
            there = f"{at}.payments.{j}"
            if not start <= payment.due_date <= end:
                yield Issue(f"{there}.due_date", f"must fall within the contract ({start} to {end})")
            if previous is not None and payment.due_date <= previous:
                yield Issue(f"{there}.due_date", "must be after the payment before it")
            previous = payment.due_date
            if payment.amount <= 0:
                yield Issue(f"{there}.amount", "must be more than zero")
            elif reason := inexact(payment.amount, currency):
                yield Issue(f"{there}.amount", reason)


def tranche_total(tranches: Sequence[Tranche]) -> Decimal:
    """What every tranche pays in all."""
    return sum((p.amount for t in tranches for p in t.payments), Decimal(0))
