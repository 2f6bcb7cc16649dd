"""The running totals caps and tiers read, kept in memory: what the service keeps in its locked cap
counters, for replaying a contract's history (retroactive amendments) and for the engine's tests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from services.outcomes.pricing.caps import CapUsage, Price
from services.outcomes.pricing.money import ZERO


@dataclass(slots=True)
class Book:
    contract: Decimal = ZERO
    periods: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    participants: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    outcome_counts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    outcome_paid: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    payers: defaultdict[UUID, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def usage(self, participant: str, outcome: str, period: str) -> CapUsage:
        return CapUsage(
            participant=self.participants[participant],
            contract=self.contract,
            period=self.periods[period],
            outcome_count=self.outcome_counts[outcome],
            outcome_paid=self.outcome_paid[outcome],
            payers=dict(self.payers),
        )

    def record(self, price: Price, participant: str, outcome: str, period: str) -> None:
        self.contract += price.payable
        self.periods[period] += price.payable
        self.participants[participant] += price.payable
        self.outcome_counts[outcome] += 1
        self.outcome_paid[outcome] += price.payable
        for line in price.lines:
            self.payers[line.organisation_id] += line.amount
