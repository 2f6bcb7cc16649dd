"""Retroactive amendments: when a version takes effect before it was signed, the claims it governs that
were priced under the old version are priced again, and each payer's difference becomes an adjustment
line on its next statement. The claim's lines plus its adjustments always equal the in-force price.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from services.outcomes.pricing.book import Book
from services.outcomes.pricing.caps import Line, Price
from services.outcomes.pricing.money import ZERO


@dataclass(frozen=True, slots=True)
class Adjustment:
    organisation_id: UUID
    tariff_share: Decimal  # may be negative: the new price is lower
    amount: Decimal


def adjustments(booked: Sequence[Line], repriced: Sequence[Line]) -> tuple[Adjustment, ...]:
    """What each payer is owed (or owes back) to move from `booked` to `repriced`; zeros omitted."""
    before: dict[UUID, tuple[Decimal, Decimal]] = {}
    for line in booked:
        t, a = before.get(line.organisation_id, (ZERO, ZERO))
        before[line.organisation_id] = (t + line.tariff_share, a + line.amount)
    after: dict[UUID, tuple[Decimal, Decimal]] = {}
    for line in repriced:
        t, a = after.get(line.organisation_id, (ZERO, ZERO))
        after[line.organisation_id] = (t + line.tariff_share, a + line.amount)
    found = []
    for org in [*after, *(o for o in before if o not in after)]:
        t0, a0 = before.get(org, (ZERO, ZERO))
        t1, a1 = after.get(org, (ZERO, ZERO))
        if (t1 - t0, a1 - a0) != (ZERO, ZERO):
            found.append(Adjustment(org, t1 - t0, a1 - a0))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Step:
    """One priced claim of a contract's history, in pricing order: whose, which outcome, which period."""

    participant: str
    outcome: str
    period: str


def replay(steps: Sequence[Step], price: Callable[[int, Book], Price]) -> list[Price]:
    """Price a contract's claims again in their pricing order, caps and tiers reading the replayed totals;
    `price(i, book)` prices step `i` under the version in force on its achievement date."""
    book, prices = Book(), []
    for i, step in enumerate(steps):
        priced = price(i, book)
        book.record(priced, step.participant, step.outcome, step.period)
        prices.append(priced)
    return prices
