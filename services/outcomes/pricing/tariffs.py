"""An outcome's base price from its rule: a flat tariff, volume tiers, or bands (each a tariff or tiers).

The one dispatch on the rule's kind; it is exhaustive, so a new kind fails type checking until priced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import assert_never

from services.outcomes.pricing.bands import Bands, band_for
from services.outcomes.pricing.facts import FactValue
from services.outcomes.pricing.segments import Tariff, resolve
from services.outcomes.pricing.tiers import Tier, tier_for


@dataclass(frozen=True, slots=True)
class Flat:
    tariff: Tariff


@dataclass(frozen=True, slots=True)
class Tiered:
    tiers: tuple[Tier, ...]


Rule = Flat | Tiered | Bands


@dataclass(frozen=True, slots=True)
class Base:
    """The base price and how it was found."""

    amount: Decimal
    band: str | None = None
    tier: int | None = None  # index into the tiers that applied


def _price(
    price: Tariff | tuple[Tier, ...], segment: str | None, count_before: int, band: str | None
) -> Base:
    if isinstance(price, tuple):
        index = tier_for(price, count_before)
        return Base(resolve(price[index].tariff, segment), band=band, tier=index)
    return Base(resolve(price, segment), band=band)


def base_price(rule: Rule, facts: Mapping[str, FactValue], segment: str | None, count_before: int) -> Base:
    if isinstance(rule, Flat):
        return _price(rule.tariff, segment, count_before, None)
    if isinstance(rule, Tiered):
        return _price(rule.tiers, segment, count_before, None)
    if isinstance(rule, Bands):
        band = band_for(rule, facts)
        return _price(band.price, segment, count_before, band.code)
    assert_never(rule)
