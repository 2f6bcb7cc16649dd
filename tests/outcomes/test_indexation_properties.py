"""Properties of indexation (pricing.indexation) over generated steps and dates: the factor on a date is
deterministic, independent of the steps' order, and that of the latest step on or before it; percentage
steps only ever raise prices over time; an indexed price is exact to the minor unit and within half a unit
of the exact product; a claim priced by the engine carries the factor it was priced at."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from services.outcomes import pricing
from services.outcomes.pricing import indexation as ix

FIRST = date(2027, 1, 1)
DAYS = st.integers(0, 3 * 365).map(lambda n: FIRST + timedelta(days=n))
PERCENTS = st.integers(1, 100_0000).map(lambda u: Decimal(u).scaleb(-4))
INDICES = st.integers(1, 1_000_0000).map(lambda u: Decimal(u).scaleb(-4))
AMOUNTS = st.integers(0, 10_000_000).map(lambda u: Decimal(u).scaleb(-2))


@st.composite
def indexations(draw: st.DrawFn, *, percent_only: bool = False) -> pricing.Indexation:
    days = sorted(draw(st.sets(DAYS, max_size=6)))
    steps: list[ix.Step] = [
        ix.PercentStep(d, draw(PERCENTS))
        if percent_only or draw(st.booleans())
        else ix.IndexStep(d, draw(INDICES))
        for d in days
    ]
    return pricing.Indexation(tuple(steps), draw(INDICES))


@given(indexations(), DAYS, st.randoms())
def test_the_factor_is_deterministic_and_that_of_the_latest_step_before(
    indexation: pricing.Indexation, on: date, rnd: random.Random
) -> None:
    at = ix.factor(indexation, on)
    shuffled = list(indexation.steps)
    rnd.shuffle(shuffled)
    assert ix.factor(pricing.Indexation(tuple(shuffled), indexation.base_index), on) == at
    before = [s for s in indexation.steps if s.from_ <= on]
    if not before:
        assert at == 1
    else:
        latest = max(before, key=lambda s: s.from_)
        assert ix.factor(indexation, latest.from_) == at  # constant from a step until the next


@given(indexations(percent_only=True), DAYS, DAYS)
def test_percentage_steps_only_raise_prices_over_time(
    indexation: pricing.Indexation, a: date, b: date
) -> None:
    early, late = min(a, b), max(a, b)
    assert 1 <= ix.factor(indexation, early) <= ix.factor(indexation, late)


@given(AMOUNTS, indexations(), DAYS)
def test_an_indexed_price_is_exact_and_within_half_a_minor_unit(
    amount: Decimal, indexation: pricing.Indexation, on: date
) -> None:
    at = ix.factor(indexation, on)
    price = ix.indexed(amount, at, "DKK")
    assert price == price.quantize(Decimal("0.01"))
    assert abs(price - amount * at) <= Decimal("0.005")
    assert ix.indexed(amount, Decimal(1), "DKK") == amount


@given(AMOUNTS.filter(lambda a: a > 0), indexations(), DAYS)
def test_the_engine_prices_a_claim_at_its_achievement_dates_factor(
    tariff: Decimal, indexation: pricing.Indexation, on: date
) -> None:
    payer = pricing.Share(UUID(int=1), Decimal(100))
    contract = pricing.Contract("DKK", pricing.FixedSplit((payer,)), indexation=indexation)
    outcome = pricing.Outcome("job_start", pricing.Flat(tariff))
    priced = pricing.price(pricing.Claim("job_start", achieved=on), outcome, contract, pricing.CapUsage())
    at = ix.factor(indexation, on)
    assert priced.tariff == ix.indexed(tariff, at, "DKK")
    assert priced.working is not None
    assert priced.working.index_factor == at
    assert priced.payable == sum((line.amount for line in priced.lines), Decimal(0))
