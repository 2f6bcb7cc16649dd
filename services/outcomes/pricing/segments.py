"""Segments fixed at enrolment (e.g. two vulnerability levels): a price may differ per segment.

A `Tariff` is either one amount or a `BySegment` table; the terms' validation makes a table price every
declared segment and no other, so a missing entry here is a broken invariant, refused all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.outcomes.pricing.refusals import Refused


@dataclass(frozen=True, slots=True)
class BySegment:
    prices: Mapping[str, Decimal]


Tariff = Decimal | BySegment


def resolve(tariff: Tariff, segment: str | None) -> Decimal:
    """The amount for the participant's segment."""
    if isinstance(tariff, Decimal):
        return tariff
    if segment is None:
        raise Refused("the price depends on the participant's segment, and none was recorded", path="segment")
    price = tariff.prices.get(segment)
    if price is None:
        raise Refused(f"no price for segment `{segment}`", path="segment")
    return price
