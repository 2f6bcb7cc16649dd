"""Caps at every scope: per participant, per outcome (a count, an amount, or both), per payer, per payment
period and for the whole contract. The engine applies the narrowest binding cap and names it on the cut.

A narrower cap above the contract's total binds nothing and is almost always a typo, so it is refused;
each payer's maximum names an outcome payer of the contract, once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from uuid import UUID

from pydantic import Field

from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Money, inexact
from services.contracts.terms.strict import Strict


class OutcomeCap(Strict):
    """A volume cap on one outcome over the contract: at most `count` achievements, `amount` paid."""

    count: int | None = Field(None, ge=1, le=10_000_000)
    amount: Money | None = None


class PayerMaximum(Strict):
    organisation_id: UUID
    amount: Money = Field(description="The most this payer pays under the contract")


class CapsV2(Strict):
    per_participant: Money | None = None
    per_period: Money | None = None
    contract_total: Money | None = None
    per_payer: list[PayerMaximum] = Field(default_factory=list, max_length=100)


def outcome_cap_issues(
    cap: OutcomeCap, path: str, contract_total: Decimal | None, currency: str
) -> Iterator[Issue]:
    if cap.count is None and cap.amount is None:
        yield Issue(path, "give a `count`, an `amount`, or both; or leave the cap out")
    if cap.amount is not None:
        if reason := inexact(cap.amount, currency):
            yield Issue(f"{path}.amount", reason)
        if contract_total is not None and cap.amount > contract_total:
            yield Issue(f"{path}.amount", f"exceeds the contract's total cap ({contract_total})")


def cap_issues(caps: CapsV2, payers: Sequence[UUID], currency: str) -> Iterator[Issue]:
    total = caps.contract_total
    for name in ("per_participant", "per_period", "contract_total"):
        amount = getattr(caps, name)
        if amount is None:
            continue
        if reason := inexact(amount, currency):
            yield Issue(f"caps.{name}", reason)
        if name != "contract_total" and total is not None and amount > total:
            yield Issue(f"caps.{name}", f"exceeds the contract's total cap ({total})")
    seen: set[UUID] = set()
    for j, maximum in enumerate(caps.per_payer):
        at = f"caps.per_payer.{j}"
        if maximum.organisation_id not in payers:
            yield Issue(f"{at}.organisation_id", "must be an outcome_payer party")
        if maximum.organisation_id in seen:
            yield Issue(f"{at}.organisation_id", "each payer has one maximum")
        seen.add(maximum.organisation_id)
        if reason := inexact(maximum.amount, currency):
            yield Issue(f"{at}.amount", reason)
        if total is not None and maximum.amount > total:
            yield Issue(f"{at}.amount", f"exceeds the contract's total cap ({total})")
