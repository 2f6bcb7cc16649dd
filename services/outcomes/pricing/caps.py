"""Caps at every scope. A claim's price is cut to the room each cap leaves, in one fixed order from the
narrowest scope out — per participant, the outcome's count and amount, the contract, the period — so the
payable amount is the least room of all, and each cap that binds records the cut it made, by name. Per-payer
maxima cut a payer's own line after the split (payers.py); the other payers still pay theirs.

The order of the contract and period caps is the version-1 order, so version-1 terms cut exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from services.outcomes.pricing.money import ZERO


@dataclass(frozen=True, slots=True)
class Caps:
    per_participant: Decimal | None = None
    contract_total: Decimal | None = None
    per_period: Decimal | None = None
    per_payer: Mapping[UUID, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutcomeCap:
    """A per-outcome volume cap, as a count of verified achievements, an amount, or both."""

    count: int | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CapUsage:
    """What has already been paid (and, for the outcome, counted) against each cap before this claim."""

    participant: Decimal = ZERO
    contract: Decimal = ZERO
    period: Decimal = ZERO
    outcome_count: int = 0
    outcome_paid: Decimal = ZERO
    payers: Mapping[UUID, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cut:
    # per_participant | outcome_count | outcome_amount | contract_total | per_period | per_payer:<id>
    cap: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Line:
    """One payer's part of one priced claim."""

    organisation_id: UUID
    tariff_share: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Working:
    """How the price was found, for the claim's record and the partners who may read it."""

    base: Decimal
    band: str | None = None
    tier: int | None = None
    count_before: int = 0
    segment: str | None = None
    payer_tariffs: tuple[tuple[UUID, Decimal], ...] = ()
    index_factor: Decimal = Decimal(1)  # indexation's factor on the achievement date (base and own prices)


@dataclass(frozen=True, slots=True)
class Price:
    tariff: Decimal
    payable: Decimal
    cuts: tuple[Cut, ...] = field(default=())
    lines: tuple[Line, ...] = field(default=())
    working: Working | None = None

    @property
    def cut(self) -> Decimal:
        return self.tariff - self.payable


def rooms(caps: Caps, usage: CapUsage, outcome: OutcomeCap, tariff: Decimal) -> list[tuple[str, Decimal]]:
    """Each cap's room, in the cutting order; a count cap leaves room for the whole claim or none."""
    found: list[tuple[str, Decimal]] = []
    if caps.per_participant is not None:
        found.append(("per_participant", caps.per_participant - usage.participant))
    if outcome.count is not None:
        found.append(("outcome_count", tariff if usage.outcome_count < outcome.count else ZERO))
    if outcome.amount is not None:
        found.append(("outcome_amount", outcome.amount - usage.outcome_paid))
    if caps.contract_total is not None:
        found.append(("contract_total", caps.contract_total - usage.contract))
    if caps.per_period is not None:
        found.append(("per_period", caps.per_period - usage.period))
    return found


def cut_to_rooms(tariff: Decimal, limits: list[tuple[str, Decimal]]) -> tuple[Decimal, tuple[Cut, ...]]:
    """The tariff cut to each room in turn (an overdrawn cap leaves none, never less)."""
    payable, cuts = tariff, []
    for name, room in limits:
        room = max(room, ZERO)
        if payable > room:
            cuts.append(Cut(name, payable - room))
            payable = room
    return payable, tuple(cuts)


def price_claim(tariff: Decimal, caps: Caps, usage: CapUsage, outcome: OutcomeCap | None = None) -> Price:
    """The tariff after every contract-level cap, before the split (version 1's whole pricing)."""
    payable, cuts = cut_to_rooms(tariff, rooms(caps, usage, outcome or OutcomeCap(), tariff))
    return Price(tariff=tariff, payable=payable, cuts=cuts)
