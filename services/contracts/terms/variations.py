"""Temporary variations: a stated period in which outcome pricing is suspended and each payer pays a fixed
monthly "scenario" amount instead (as many UK social impact bonds did during COVID-19, at a "medium
scenario" of expected outcomes). Usually added by an amendment; after the period, outcome pricing resumes
as the terms state it.

A variation covers whole calendar months (`from` a month's first day, `to` a month's last), within the
contract's dates, never overlapping another. Claims achieved inside it are still recorded and verified but
priced at zero, cut by the variation; each payer's scenario payment falls due on each month's last day.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from pydantic import Field

from kit.text import FreeText
from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Money, inexact
from services.contracts.terms.names import Code, Wording
from services.contracts.terms.strict import Strict


class ScenarioPayment(Strict):
    payer_organisation_id: UUID
    monthly_amount: Money = Field(description="What the payer pays for each month of the variation")


class Variation(Strict):
    code: Code
    scenario: Wording = Field(
        min_length=1, max_length=200, description="The scenario the amounts are set at, e.g. `medium`"
    )
    reason: FreeText = Field("", max_length=4000, description="Why outcome pricing is suspended")
    from_: date = Field(alias="from", description="The first day of the variation: a month's first day")
    to: date = Field(description="The last day of the variation: a month's last day")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="The contract's currency, stated again")
    payments: list[ScenarioPayment] = Field(min_length=1, max_length=100)


def month_ends(start: date, end: date) -> list[date]:
    """The last day of every calendar month from `start`'s to `end`'s."""
    found, first = [], start.replace(day=1)
    while first <= end:
        following = (first + timedelta(days=32)).replace(day=1)
        found.append(following - timedelta(days=1))
        first = following
    return found


def variation_issues(
    variations: Sequence[Variation], payers: Sequence[UUID], start: date, end: date, currency: str
) -> Iterator[Issue]:
    seen: dict[str, int] = {}
    for i, variation in enumerate(variations):
        at = f"variations.{i}"
        if variation.code in seen:
            yield Issue(f"{at}.code", f"duplicate variation code {variation.code!r}")
        seen.setdefault(variation.code, i)
        if variation.currency != currency:
            yield Issue(f"{at}.currency", f"must be the contract's currency ({currency})")
        if variation.to < variation.from_:
            yield Issue(f"{at}.to", "must not be before `from`")
        if variation.from_.day != 1:
            yield Issue(f"{at}.from", "must be the first day of a month (a variation covers whole months)")
        if (variation.to + timedelta(days=1)).day != 1:
            yield Issue(f"{at}.to", "must be the last day of a month (a variation covers whole months)")
        for name, day in (("from", variation.from_), ("to", variation.to)):
            if not start <= day <= end:
                yield Issue(f"{at}.{name}", f"must fall within the contract ({start} to {end})")
        for j, other in enumerate(variations[:i]):
            if variation.from_ <= other.to and other.from_ <= variation.to:
                yield Issue(at, f"overlaps variation {j} (`{other.code}`, {other.from_} to {other.to})")
        named: set[UUID] = set()
        for j, payment in enumerate(variation.payments):
            there = f"{at}.payments.{j}"
            if payment.payer_organisation_id not in payers:
                yield Issue(f"{there}.payer_organisation_id", "must be an outcome_payer party")
            elif payment.payer_organisation_id in named:
                yield Issue(f"{there}.payer_organisation_id", "this payer already has a scenario payment")
            named.add(payment.payer_organisation_id)
            if payment.monthly_amount <= 0:
                yield Issue(f"{there}.monthly_amount", "must be more than zero")
            elif variation.currency == currency and (reason := inexact(payment.monthly_amount, currency)):
                yield Issue(f"{there}.monthly_amount", reason)


def variation_total(variations: Sequence[Variation]) -> Decimal:
    """What every variation pays in all: each payer's monthly amount for each month it covers."""
    return sum(
        (
            p.monthly_amount * len(month_ends(v.from_, v.to))
            for v in variations
            if v.from_ <= v.to
            for p in v.payments
        ),
        Decimal(0),
    )
