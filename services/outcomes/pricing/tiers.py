"""Volume tiers: the first N verified achievements of an outcome at one price, the next M at another.

The tier is decided by how many achievements of the outcome (all its bands) the contract has verified
before this one, a count the caller reads under the outcome's counter lock. `up_to` is cumulative and
strictly increasing; only the last tier may be open (`None`).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.outcomes.pricing.segments import Tariff


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: int | None
    tariff: Tariff


def tier_for(tiers: tuple[Tier, ...], count_before: int) -> int:
    """The index of the tier the next achievement falls in; past a closed last tier, the last one."""
    for index, tier in enumerate(tiers):
        if tier.up_to is None or count_before < tier.up_to:
            return index
    return len(tiers) - 1
