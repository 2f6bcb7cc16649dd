"""Bands: one outcome family whose price follows a fact (part-time 8 to 16 hours a week, full-time ≥ 16).

The engine, not the provider, classifies a claim into its band: bands are half-open `[lower, upper)`
without gaps or overlaps, so a value falls in at most one, and the family's achievements are mutually
exclusive. A value outside every band is refused with the ranges there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.outcomes.pricing.facts import FactValue
from services.outcomes.pricing.refusals import Refused
from services.outcomes.pricing.segments import Tariff
from services.outcomes.pricing.tiers import Tier


@dataclass(frozen=True, slots=True)
class Band:
    code: str
    lower: Decimal
    upper: Decimal | None
    price: Tariff | tuple[Tier, ...]  # a band has a tariff or tiers of its own

    def contains(self, value: Decimal) -> bool:
        return self.lower <= value and (self.upper is None or value < self.upper)


@dataclass(frozen=True, slots=True)
class Bands:
    fact: str
    bands: tuple[Band, ...]


def band_for(bands: Bands, facts: Mapping[str, FactValue]) -> Band:
    path = f"facts.{bands.fact}"
    value = facts.get(bands.fact)
    if value is None:
        raise Refused(f"the outcome is priced by `{bands.fact}`, which the claim does not report", path=path)
    if isinstance(value, bool | str):
        raise Refused(f"`{bands.fact}` must be a number to choose a band", path=path)
    for band in bands.bands:
        if band.contains(Decimal(value)):
            return band
    ranges = ", ".join(
        f"{b.code} [{b.lower}, {b.upper if b.upper is not None else '∞'})" for b in bands.bands
    )
    raise Refused(f"`{bands.fact}` is {value}, in no band of the outcome ({ranges})", path=path)
