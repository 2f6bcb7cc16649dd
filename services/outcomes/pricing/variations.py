"""Temporary variations: a period in which each payer pays a fixed monthly scenario amount instead of
outcome prices. A claim achieved inside it is priced at zero, its whole tariff cut by the variation
(`variation:<code>`), so what it would have paid stays visible; each payer's scenario payments fall due
on the last day of each month the variation covers.

Pure and deterministic: the same variations and dates always give the same payments, in the same order (by
due date, then variation code), each exact to the currency's minor unit (`ValueError` otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from services.outcomes.pricing.caps import Cut, Line, Price
from services.outcomes.pricing.money import ZERO, quantise, text

CUT_PREFIX = "variation:"


@dataclass(frozen=True, slots=True)
class Variation:
    code: str
    scenario: str
    start: date  # a month's first day
    end: date  # a month's last day
    payments: tuple[tuple[UUID, Decimal], ...]  # (payer, monthly amount)

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class ScenarioDue:
    """One payer's scenario payment for one month: what a statement line and its ledger event record."""

    code: str
    scenario: str
    payer: UUID
    month: date  # the month's first day
    due_date: date  # the month's last day
    amount: Decimal
    instalment: int  # 1-based month of the variation
    instalments: int


def months(start: date, end: date) -> tuple[tuple[date, date], ...]:
    """Each calendar month from `start`'s to `end`'s, as (first day, last day)."""
    found, first = [], start.replace(day=1)
    while first <= end:
        following = (first + timedelta(days=32)).replace(day=1)
        found.append((first, following - timedelta(days=1)))
        first = following
    return tuple(found)


def covering(variations: Sequence[Variation], day: date | None) -> Variation | None:
    """The variation `day` falls in (the registry refuses overlaps), or None."""
    if day is None:
        return None
    return next((v for v in variations if v.covers(day)), None)


def paid_instead(price: Price, variation: Variation) -> Price:
    """`price` suspended by the variation: nothing payable, the whole tariff cut by it, each payer's tariff
    share kept so the statement shows what outcome pricing would have paid."""
    return Price(
        tariff=price.tariff,
        payable=ZERO,
        cuts=(Cut(CUT_PREFIX + variation.code, price.tariff),) if price.tariff else (),
        lines=tuple(Line(x.organisation_id, x.tariff_share, ZERO) for x in price.lines),
        working=price.working,
    )


def due(
    variations: Sequence[Variation], payer: UUID, start: date, end: date, currency: str
) -> tuple[ScenarioDue, ...]:
    """The payer's scenario payments due from `start` to `end` (both included)."""
    found = []
    for variation in variations:
        covered = months(variation.start, variation.end)
        for organisation, monthly in variation.payments:
            if organisation != payer:
                continue
            amount = quantise(monthly, currency)
            for n, (first, last) in enumerate(covered, start=1):
                if start <= last <= end:
                    found.append(
                        ScenarioDue(
                            variation.code, variation.scenario, payer, first, last, amount, n, len(covered)
                        )
                    )
    return tuple(sorted(found, key=lambda d: (d.due_date, d.code)))


def working(payment: ScenarioDue, currency: str) -> dict[str, str | int]:
    """The payment's working as the ledger records it: no participant, so nothing person-level."""
    return {
        "variation_code": payment.code,
        "scenario": payment.scenario,
        "basis": "a fixed scenario payment for the month, paid instead of outcome prices",
        "month": payment.month.isoformat()[:7],
        "due_date": payment.due_date.isoformat(),
        "instalment": payment.instalment,
        "instalments": payment.instalments,
        "amount": text(payment.amount, currency),
    }
