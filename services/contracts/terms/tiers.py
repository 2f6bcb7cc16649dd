"""Volume tiers: the first N verified achievements of an outcome under the contract at one price, the
next at another, the rest at a third. Bounds are cumulative counts, strictly increasing; the last tier is
open (`up_to: null`), so every achievement has a price; to stop paying after a count, cap the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pydantic import Field

from services.contracts.terms.issues import Issue
from services.contracts.terms.segments import Price, Segments, price_issues
from services.contracts.terms.strict import Strict


class Tier(Strict):
    up_to: int | None = Field(
        ge=1,
        le=10_000_000,
        description="The last achievement count (cumulative) this tier prices; null: all after",
    )
    tariff: Price


def tier_issues(
    tiers: Sequence[Tier], path: str, segments: Segments | None, currency: str
) -> Iterator[Issue]:
    previous: int | None = None
    for j, tier in enumerate(tiers):
        at = f"{path}.{j}"
        last = j == len(tiers) - 1
        if tier.up_to is None and not last:
            yield Issue(f"{at}.up_to", "only the last tier may be open (null)")
        if tier.up_to is not None and last:
            yield Issue(
                f"{at}.up_to",
                "the last tier must be open (null) so every achievement has a price; "
                "cap the outcome's `count` to stop paying",
            )
        if tier.up_to is not None:
            if previous is not None and tier.up_to <= previous:
                yield Issue(
                    f"{at}.up_to",
                    f"must be above the previous tier's {previous}: tiers are ordered and do not overlap",
                )
            previous = tier.up_to if previous is None else max(previous, tier.up_to)
        yield from price_issues(tier.tariff, f"{at}.tariff", segments, currency)
