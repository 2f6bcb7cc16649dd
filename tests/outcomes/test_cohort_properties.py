"""Properties of the cohort formula (pricing.cohorts) over generated formulas and figures: the payment is
deterministic and independent of the order the figures come in; the one rounding is exact (the rounded
amount is the exact share, half up, to the minor unit, computed here with integers: no float, no
context); the payment is never negative unless the terms allow it, never repays more than was paid
before, and never pays past the cap, however a cap is used up over successive periods."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.outcomes.pricing import cohorts

CURRENCIES = {"DKK": 2, "JPY": 0, "BHD": 3}
# Means per person: up to 15 integer digits and 6 decimals, as the submission schema allows.
MEANS = st.integers(0, 10**21 - 1).map(lambda n: Decimal(n).scaleb(-6))
SMALL_MEANS = st.integers(0, 10**10).map(lambda n: Decimal(n).scaleb(-6))
SHARES = st.integers(1, 1_000_000).map(lambda n: Decimal(n).scaleb(-4))  # above 0, at most 100, 4 places


@st.composite
def cases(draw: st.DrawFn, means: st.SearchStrategy[Decimal] = SMALL_MEANS) -> tuple[
    cohorts.Formula, list[cohorts.Figure], int, str
]:  # fmt: skip
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    unit = Decimal(1).scaleb(-CURRENCIES[currency])
    codes = draw(
        st.lists(st.sampled_from(["benefits", "taxes", "housing", "health"]), min_size=1, unique=True)
    )
    measures = tuple(cohorts.Measure(c, draw(st.sampled_from(list(cohorts.Better)))) for c in codes)
    formula = cohorts.Formula(
        "savings",
        UUID(int=1),
        measures,
        draw(SHARES),
        draw(st.integers(1, 10**14)) * unit,
        draw(st.booleans()),
    )
    figures = [cohorts.Figure(m.code, draw(means), draw(means)) for m in measures]
    return formula, figures, draw(st.integers(1, 10_000_000)), currency


def _half_up(value: Fraction, digits: int) -> Fraction:
    scaled = value * 10**digits
    whole = (abs(scaled.numerator) * 2 + scaled.denominator) // (2 * scaled.denominator)
    return Fraction(whole if scaled >= 0 else -whole, 10**digits)


@given(cases(means=MEANS), st.randoms())
def test_the_payment_is_deterministic_and_the_rounding_exact(
    case: tuple[cohorts.Formula, list[cohorts.Figure], int, str], rng: random.Random
) -> None:
    formula, figures, size, currency = case
    payment = cohorts.compute(formula, figures, size, Decimal(0), currency)
    shuffled = list(figures)
    rng.shuffle(shuffled)
    again = cohorts.compute(formula, shuffled, size, Decimal(0), currency)
    assert again == payment
    assert cohorts.working(formula, again, currency) == cohorts.working(formula, payment, currency)
    # The same sum in exact rationals: the engine's `share` is exact, its rounding half up once.
    per_person = sum(
        (
            Fraction(f.comparison - f.cohort)
            if m.better is cohorts.Better.LOWER
            else Fraction(f.cohort - f.comparison)
        )
        for m in formula.measures
        for f in figures
        if f.code == m.code
    )
    share = per_person * size * Fraction(formula.share_percent) / 100
    assert Fraction(payment.share) == share
    assert Fraction(payment.rounded) == _half_up(share, CURRENCIES[currency])
    assert payment.amount == payment.amount.quantize(Decimal(1).scaleb(-CURRENCIES[currency]))


@given(cases(), st.data())
def test_never_negative_unless_allowed_never_past_the_cap_nor_repaying_more_than_was_paid(
    case: tuple[cohorts.Formula, list[cohorts.Figure], int, str], data: st.DataObject
) -> None:
    formula, figures, size, currency = case
    unit = Decimal(1).scaleb(-CURRENCIES[currency])
    paid = data.draw(st.integers(0, int(formula.cap / unit))) * unit
    payment = cohorts.compute(formula, figures, size, paid, currency)
    assert payment.amount <= formula.cap - paid
    assert paid + payment.amount <= formula.cap
    if formula.may_be_negative:
        assert payment.amount >= -paid
    else:
        assert payment.amount >= 0
    if payment.bound is None:
        assert payment.amount == payment.rounded
    else:
        assert payment.amount == (payment.upper if payment.bound == "cap" else payment.lower)


@given(cases(), st.integers(1, 6))
def test_successive_periods_never_pay_past_the_cap_together(
    case: tuple[cohorts.Formula, list[cohorts.Figure], int, str], periods: int
) -> None:
    formula, figures, size, currency = case
    paid = Decimal(0)
    for _ in range(periods):
        paid += cohorts.compute(formula, figures, size, paid, currency).amount
        assert Decimal(0) <= paid <= formula.cap


def test_figures_that_do_not_name_the_measures_are_an_error_never_a_zero() -> None:
    formula = cohorts.Formula(
        "savings",
        UUID(int=1),
        (cohorts.Measure("benefits", cohorts.Better.LOWER), cohorts.Measure("taxes", cohorts.Better.HIGHER)),
        Decimal(30),
        Decimal("1000.00"),
        False,
    )
    one = cohorts.Figure("benefits", Decimal(2), Decimal(3))
    for figures in ([one], [one, one], [one, cohorts.Figure("housing", Decimal(1), Decimal(1))]):
        with pytest.raises(ValueError, match="measures"):
            cohorts.compute(formula, figures, 10, Decimal(0), "DKK")
    with pytest.raises(ValueError, match="cap"):
        cohorts.compute(
            formula, [one, cohorts.Figure("taxes", Decimal(1), Decimal(1))], 10, Decimal("1000.01"), "DKK"
        )
