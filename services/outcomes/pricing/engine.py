"""One claim priced end to end: facts read and checked against the criteria, the base price from the
outcome's rule (tariff, tiers or bands, each perhaps per segment), indexed to the claim's achievement date,
payers' own prices (indexed alike) on top, the caps from the narrowest scope out, the split, then each
payer's own maximum; a claim achieved inside a temporary variation is then suspended to zero (`variations`).

Pure: the caller passes the usage it read under its counter locks and records the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from services.outcomes.pricing import criteria as criteria_
from services.outcomes.pricing.caps import (
    Caps,
    CapUsage,
    OutcomeCap,
    Price,
    Working,
    cut_to_rooms,
    rooms,
)
from services.outcomes.pricing.criteria import Criterion
from services.outcomes.pricing.facts import FactSpec, FactValue, read_facts
from services.outcomes.pricing.indexation import ONE, Indexation, factor, indexed
from services.outcomes.pricing.money import ZERO, quantise
from services.outcomes.pricing.payers import Split, cap_payers, lines_for, shares_for
from services.outcomes.pricing.refusals import Refused
from services.outcomes.pricing.repeat import Repeat
from services.outcomes.pricing.segments import Tariff, resolve
from services.outcomes.pricing.tariffs import Base, Rule, base_price
from services.outcomes.pricing.variations import Variation, covering, paid_instead


@dataclass(frozen=True, slots=True)
class Claim:
    """What pricing needs to know of a claim and its participant."""

    outcome_code: str
    facts: Mapping[str, object] = field(default_factory=dict)
    segment: str | None = None
    municipality_code: str = ""
    achieved: date | None = None  # the achievement date, which indexation reads (None: not indexed)


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str
    rule: Rule
    criteria: tuple[Criterion, ...] = ()
    cap: OutcomeCap = field(default_factory=OutcomeCap)
    payer_tariffs: tuple[tuple[UUID, Tariff], ...] = ()
    repeat: Repeat = field(default_factory=Repeat)


@dataclass(frozen=True, slots=True)
class Contract:
    currency: str
    split: Split
    caps: Caps = field(default_factory=Caps)
    facts: tuple[FactSpec, ...] = ()
    indexation: Indexation = field(default_factory=Indexation)
    variations: tuple[Variation, ...] = ()  # periods paid by scenario payments instead

    def index_factor(self, claim: Claim) -> Decimal:
        """The factor the claim's prices are at: indexation's on its achievement date."""
        return ONE if claim.achieved is None else factor(self.indexation, claim.achieved)


@dataclass(frozen=True, slots=True)
class Classified:
    facts: dict[str, FactValue]
    base: Base
    index_factor: Decimal = ONE


def classify(claim: Claim, outcome: Outcome, contract: Contract, count_before: int = 0) -> Classified:
    """The claim's facts read, its criteria met and its band and tier chosen, or `Refused` saying why."""
    facts = read_facts(contract.facts, claim.facts)
    criteria_.check(outcome.criteria, facts)
    base = base_price(outcome.rule, facts, claim.segment, count_before)
    at = contract.index_factor(claim)
    try:
        amount = indexed(quantise(base.amount, contract.currency), at, contract.currency)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    return Classified(facts, Base(amount, band=base.band, tier=base.tier), at)


def price(claim: Claim, outcome: Outcome, contract: Contract, usage: CapUsage) -> Price:
    """The claim's price with every cut named and each payer's line; `Refused` when it cannot be priced."""
    currency = contract.currency
    classified = classify(claim, outcome, contract, usage.outcome_count)
    base, at = classified.base, classified.index_factor
    own = [
        (org, indexed(quantise(resolve(t, claim.segment), currency), at, currency))
        for org, t in outcome.payer_tariffs
    ]
    tariff = base.amount + sum((amount for _, amount in own), ZERO)
    payable, cuts = cut_to_rooms(tariff, rooms(contract.caps, usage, outcome.cap, tariff))
    shares = shares_for(contract.split, claim.municipality_code)
    lines, payer_cuts = cap_payers(
        lines_for(tariff, payable, shares, own, currency), contract.caps.per_payer, usage.payers
    )
    working = Working(
        base=base.amount,
        band=base.band,
        tier=base.tier,
        count_before=usage.outcome_count,
        segment=claim.segment,
        payer_tariffs=tuple(own),
        index_factor=at,
    )
    priced = Price(
        tariff=tariff,
        payable=sum((line.amount for line in lines), ZERO),
        cuts=cuts + tuple(payer_cuts),
        lines=tuple(lines),
        working=working,
    )
    variation = covering(contract.variations, claim.achieved)
    return priced if variation is None else paid_instead(priced, variation)
