"""Properties of the version-2 rules (pure, hypothesis): tiers and bands are accepted exactly when they
are ordered without overlaps or gaps, and every amount exact to its currency's ISO minor unit passes."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.contracts.terms.bands import Bands, band_issues
from services.contracts.terms.facts import DecimalFact
from services.contracts.terms.money import inexact, minor_unit
from services.contracts.terms.tiers import Tier, tier_issues

HOURS = {"hours": DecimalFact.model_validate({"name": "hours", "type": "decimal"})}
bounds = st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=6)


def _tiers(ups: list[int | None]) -> list[Tier]:
    return [Tier.model_validate({"up_to": u, "tariff": "100.00"}) for u in ups]


@given(bounds)
def test_strictly_increasing_tiers_ending_open_are_accepted(raw: list[int]) -> None:
    ups: list[int | None] = [*sorted(set(raw)), None]
    assert list(tier_issues(_tiers(ups), "tiers", None, "DKK")) == []


@given(bounds.filter(lambda b: len(b) > 1 and any(x >= y for x, y in pairwise(b))))
def test_tiers_not_strictly_increasing_are_refused(raw: list[int]) -> None:
    issues = list(tier_issues(_tiers([*raw, None]), "tiers", None, "DKK"))
    assert any("above the previous tier" in i.reason for i in issues)


def _bands(edges: list[Decimal], open_end: bool) -> Bands:
    spans: list[dict[str, Any]] = [
        {"code": f"b{i}", "from": str(lo), "to": str(hi), "tariff": "1.00"}
        for i, (lo, hi) in enumerate(pairwise(edges))
    ]
    if open_end:
        spans.append({"code": "top", "from": str(edges[-1]), "to": None, "tariff": "2.00"})
    return Bands.model_validate({"fact": "hours", "bands": spans})


edges = st.lists(
    st.decimals(min_value=0, max_value=200, places=1, allow_nan=False), min_size=3, max_size=6, unique=True
).map(sorted)


@given(edges, st.booleans())
def test_bands_that_partition_a_range_are_accepted(points: list[Decimal], open_end: bool) -> None:
    assert list(band_issues(_bands(points, open_end), "bands", HOURS, None, "DKK")) == []


@given(edges, st.decimals(min_value=Decimal("0.1"), max_value=5, places=1), st.booleans(), st.data())
def test_moving_one_inner_bound_makes_a_gap_or_an_overlap(
    points: list[Decimal], shift: Decimal, later: bool, data: st.DataObject
) -> None:
    family = _bands(points, open_end=True).model_dump(mode="json", by_alias=True)
    j = data.draw(st.integers(min_value=0, max_value=len(family["bands"]) - 2))
    moved = Decimal(family["bands"][j]["to"]) + (shift if later else -shift)
    family["bands"][j]["to"] = str(moved)
    reasons = [i.reason for i in band_issues(Bands.model_validate(family), "bands", HOURS, None, "DKK")]
    assert any(("overlaps" if later else "gap") in r or "above `from`" in r for r in reasons), reasons


@given(st.sampled_from(["ARS", "BHD", "DKK", "JPY", "KWD", "ISK", "TND"]), st.integers(0, 10**12))
def test_an_amount_at_the_minor_unit_is_exact_and_one_digit_more_is_not(currency: str, minor: int) -> None:
    exponent = minor_unit(currency)
    assert exponent is not None
    amount = Decimal(minor).scaleb(-exponent)
    assert inexact(amount, currency) is None
    assert inexact(amount + Decimal(1).scaleb(-exponent - 1), currency) is not None
