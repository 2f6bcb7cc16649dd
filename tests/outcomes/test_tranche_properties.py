"""Properties of the tranche schedule (pricing.tranches) over generated schedules and periods: the
payments due in a period are deterministic for any dates and independent of the tranches' order; cutting
any span into consecutive periods books every payment of the span exactly once, at its amount; amounts
stay exact to the currency's minor unit, and an inexact one is refused, never rounded."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.outcomes import pricing
from services.outcomes.pricing import tranches

PAYERS = [UUID(int=1), UUID(int=2)]
FIRST, LAST = date(2027, 1, 1), date(2029, 12, 31)
DAYS = st.integers(0, (LAST - FIRST).days).map(lambda n: FIRST + timedelta(days=n))
AMOUNTS = st.integers(1, 10_000_000).map(lambda u: Decimal(u).scaleb(-2))


@st.composite
def schedules(draw: st.DrawFn) -> list[pricing.Tranche]:
    found = []
    for i in range(draw(st.integers(0, 5))):
        days = sorted(draw(st.sets(DAYS, min_size=1, max_size=8)))
        found.append(
            pricing.Tranche(
                f"t{i}",
                draw(st.sampled_from(list(pricing.TrancheKind))),
                draw(st.sampled_from(PAYERS)),
                tuple((d, draw(AMOUNTS)) for d in days),
            )
        )
    return found


@given(schedules(), DAYS, DAYS, st.sampled_from(PAYERS), st.randoms())
def test_what_falls_due_is_deterministic_and_independent_of_order(
    schedule: list[pricing.Tranche], a: date, b: date, payer: UUID, rnd: random.Random
) -> None:
    start, end = min(a, b), max(a, b)
    once = tranches.due(schedule, payer, start, end, "DKK")
    shuffled = list(schedule)
    rnd.shuffle(shuffled)
    assert tranches.due(shuffled, payer, start, end, "DKK") == once
    assert tranches.due(schedule, payer, start, end, "DKK") == once
    assert all(p.payer == payer and start <= p.due_date <= end for p in once)
    assert [(p.due_date, p.code) for p in once] == sorted((p.due_date, p.code) for p in once)


@given(schedules(), st.lists(DAYS, max_size=10), st.sampled_from(PAYERS))
def test_consecutive_periods_book_every_payment_exactly_once(
    schedule: list[pricing.Tranche], cuts: list[date], payer: UUID
) -> None:
    bounds = [FIRST, *sorted(set(cuts) - {FIRST}), LAST + timedelta(days=1)]
    booked = [
        (p.code, p.due_date, p.amount)
        for start, after in itertools.pairwise(bounds)
        for p in tranches.due(schedule, payer, start, after - timedelta(days=1), "DKK")
    ]
    expected = [(t.code, d, amount) for t in schedule if t.payer == payer for d, amount in t.payments]
    assert sorted(booked) == sorted(expected)
    total = sum((amount for _, _, amount in booked), Decimal(0))
    assert total == sum((amount for _, _, amount in expected), Decimal(0))
    assert all(amount == amount.quantize(Decimal("0.01")) for _, _, amount in booked)


@given(schedules())
def test_the_working_numbers_each_instalment_and_states_its_amount(schedule: list[pricing.Tranche]) -> None:
    for payer in PAYERS:
        for payment in tranches.due(schedule, payer, FIRST, LAST, "DKK"):
            working = tranches.working(payment, "DKK")
            assert 1 <= int(working["instalment"]) <= int(working["instalments"])
            assert Decimal(str(working["amount"])) == payment.amount
            assert working["kind"] in {"fixed", "guaranteed"}


def test_an_amount_finer_than_the_minor_unit_is_refused_not_rounded() -> None:
    fee = pricing.Tranche("fee", pricing.TrancheKind.FIXED, PAYERS[0], ((FIRST, Decimal("10.50")),))
    assert tranches.due([fee], PAYERS[0], FIRST, FIRST, "DKK")[0].amount == Decimal("10.50")
    with pytest.raises(ValueError, match="minor unit"):
        tranches.due([fee], PAYERS[0], FIRST, FIRST, "JPY")
