"""Properties of statements built from the pure engine, over generated contracts: claims priced in order
(caps, indexation, a split between two payers) and re-priced under an amendment that adds temporary
variations, plus tranches and scenario payments, each line placed in the period of its date as the
statement basis `achievement` places it. For any cut of the span into consecutive periods:

- every line of every kind (claim, adjustment, tranche, variation) lands in exactly one statement, and
  each statement's total is the sum of its lines, so the statements together pay what the claims are now
  priced at plus every scheduled payment;
- a claim's booked lines plus its adjustments are its in-force price, payer by payer;
- a claim achieved inside a variation pays nothing, its whole tariff cut by the variation, by name; one
  outside it is priced as before (a cap's room aside, which a suspended claim did not use);
- tranche schedules, scenario payments and indexation factors are deterministic for any date at all.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes import pricing
from services.outcomes.pricing import indexation as ix
from services.outcomes.pricing import tranches, variations

D = Decimal
PAYERS = (UUID(int=1), UUID(int=2))
FIRST, LAST = date(2027, 1, 1), date(2029, 12, 31)
MONTHS = variations.months(FIRST, LAST)
DAYS = st.integers(0, (LAST - FIRST).days).map(lambda n: FIRST + timedelta(days=n))
CENTS = st.integers(1, 5_000_000).map(lambda u: Decimal(u).scaleb(-2))


@dataclass(frozen=True, slots=True)
class Entry:
    """One statement line as the engine gives it: its kind, its payer, the date that places it, amounts."""

    kind: str
    payer: UUID
    day: date
    tariff_share: Decimal
    amount: Decimal


@st.composite
def variation_sets(draw: st.DrawFn) -> tuple[pricing.Variation, ...]:
    # Sorted distinct month indices, paired: consecutive pairs never overlap, as the registry requires.
    picked = sorted(draw(st.sets(st.integers(0, len(MONTHS) - 1), max_size=6)))
    found = []
    for n, (a, b) in enumerate(itertools.pairwise(picked[: len(picked) // 2 * 2])):
        if n % 2:
            continue
        payers = draw(st.lists(st.sampled_from(PAYERS), min_size=1, max_size=2, unique=True))
        found.append(
            pricing.Variation(
                f"v{n}", "medium", MONTHS[a][0], MONTHS[b][1], tuple((p, draw(CENTS)) for p in payers)
            )
        )
    return tuple(found)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[pricing.Tranche, ...]:
    found = []
    for i in range(draw(st.integers(0, 3))):
        days = sorted(draw(st.sets(DAYS, min_size=1, max_size=5)))
        found.append(
            pricing.Tranche(
                f"t{i}",
                draw(st.sampled_from(list(pricing.TrancheKind))),
                draw(st.sampled_from(PAYERS)),
                tuple((d, draw(CENTS)) for d in days),
            )
        )
    return tuple(found)


@st.composite
def indexations(draw: st.DrawFn) -> pricing.Indexation:
    days = sorted(draw(st.sets(DAYS, max_size=3)))
    percents = st.integers(1, 20_0000).map(lambda u: Decimal(u).scaleb(-4))
    return pricing.Indexation(tuple(ix.PercentStep(d, draw(percents)) for d in days))


def _contract(percent: int, cap: Decimal | None, indexation: pricing.Indexation) -> pricing.Contract:
    split = pricing.FixedSplit(
        (pricing.Share(PAYERS[0], Decimal(percent)), pricing.Share(PAYERS[1], Decimal(100 - percent)))
    )
    return pricing.Contract("DKK", split, caps=pricing.Caps(contract_total=cap), indexation=indexation)


def _priced(
    contract: pricing.Contract, outcome: pricing.Outcome, achieved: list[date]
) -> list[pricing.Price]:
    steps = [pricing.Step(str(i), outcome.code, "") for i in range(len(achieved))]
    claims = [pricing.Claim(outcome.code, achieved=day) for day in achieved]
    return pricing.replay(
        steps,
        lambda i, book: pricing.price(claims[i], outcome, contract, book.usage(str(i), outcome.code, "")),
    )


def _statements(entries: Iterable[Entry], payer: UUID, bounds: list[date]) -> list[list[Entry]]:
    mine = [e for e in entries if e.payer == payer]
    return [[e for e in mine if start <= e.day < after] for start, after in itertools.pairwise(bounds)]


@settings(deadline=None, max_examples=40)
@given(
    tariff=CENTS,
    percent=st.integers(0, 100),
    cap=st.none() | CENTS.map(lambda c: c * 20),
    indexation=indexations(),
    achieved=st.lists(DAYS, max_size=12),
    added=variation_sets(),
    schedule=schedules(),
    cuts=st.lists(DAYS, max_size=8),
)
def test_every_line_of_every_kind_lands_once_and_each_statement_is_the_sum_of_its_lines(
    tariff: Decimal,
    percent: int,
    cap: Decimal | None,
    indexation: pricing.Indexation,
    achieved: list[date],
    added: tuple[pricing.Variation, ...],
    schedule: tuple[pricing.Tranche, ...],
    cuts: list[date],
) -> None:
    outcome = pricing.Outcome("job_start", pricing.Flat(tariff))
    before = _contract(percent, cap, indexation)
    amended = pricing.Contract(
        before.currency, before.split, caps=before.caps, indexation=indexation, variations=added
    )
    booked, now = _priced(before, outcome, achieved), _priced(amended, outcome, achieved)

    entries: list[Entry] = []
    for day, old, new in zip(achieved, booked, now, strict=True):
        entries += [Entry("claim", x.organisation_id, day, x.tariff_share, x.amount) for x in old.lines]
        fixes = pricing.adjustments(old.lines, new.lines)
        entries += [Entry("adjustment", a.organisation_id, day, a.tariff_share, a.amount) for a in fixes]
        for payer in PAYERS:  # booked plus adjustments is the in-force price, payer by payer
            paid = sum((x.amount for x in old.lines if x.organisation_id == payer), D(0))
            fixed = sum((a.amount for a in fixes if a.organisation_id == payer), D(0))
            assert paid + fixed == sum((x.amount for x in new.lines if x.organisation_id == payer), D(0))
        assert new.payable == sum((x.amount for x in new.lines), D(0))
        assert new.tariff - new.payable == sum((c.amount for c in new.cuts), D(0))
        variation = variations.covering(added, day)
        if variation is not None:  # paid by the variation instead, the whole tariff cut by name
            assert new.payable == 0
            assert [c.cap for c in new.cuts] == ([f"variation:{variation.code}"] if new.tariff else [])
        else:  # outcome pricing unchanged; only a cap's room may differ (a suspended claim used none)
            assert new.tariff == old.tariff
            assert new == old or cap is not None
    for payer in PAYERS:
        entries += [
            Entry("tranche", payer, p.due_date, p.amount, p.amount)
            for p in tranches.due(schedule, payer, FIRST, LAST, "DKK")
        ]
        entries += [
            Entry("variation", payer, p.due_date, p.amount, p.amount)
            for p in variations.due(added, payer, FIRST, LAST, "DKK")
        ]

    bounds = [FIRST, *sorted(set(cuts) - {FIRST}), LAST + timedelta(days=1)]
    for payer in PAYERS:
        statements = _statements(entries, payer, bounds)
        assert sorted(map(repr, itertools.chain(*statements))) == sorted(
            repr(e) for e in entries if e.payer == payer
        )
        totals = [sum((e.amount for e in lines), D(0)) for lines in statements]
        claims_now = sum((x.amount for p in now for x in p.lines if x.organisation_id == payer), D(0))
        scheduled = sum((p.amount for p in tranches.due(schedule, payer, FIRST, LAST, "DKK")), D(0)) + sum(
            (p.amount for p in variations.due(added, payer, FIRST, LAST, "DKK")), D(0)
        )
        assert sum(totals, D(0)) == claims_now + scheduled
        for lines in statements:
            tariff_total = sum((e.tariff_share for e in lines), D(0))
            total = sum((e.amount for e in lines), D(0))
            assert all(e.amount == e.amount.quantize(D("0.01")) for e in lines)
            assert tariff_total - total == sum((e.tariff_share - e.amount for e in lines), D(0))


@given(variation_sets(), st.sampled_from(PAYERS), st.lists(DAYS, max_size=8))
def test_scenario_payments_fall_once_a_month_on_its_last_day_however_the_span_is_cut(
    added: tuple[pricing.Variation, ...], payer: UUID, cuts: list[date]
) -> None:
    bounds = [FIRST, *sorted(set(cuts) - {FIRST}), LAST + timedelta(days=1)]
    booked = [
        p
        for start, after in itertools.pairwise(bounds)
        for p in variations.due(added, payer, start, after - timedelta(days=1), "DKK")
    ]
    expected = sorted(
        (v.code, last, amount)
        for v in added
        for who, amount in v.payments
        if who == payer
        for _, last in variations.months(v.start, v.end)
    )
    assert sorted((p.code, p.due_date, p.amount) for p in booked) == expected
    assert all((p.due_date + timedelta(days=1)).day == 1 for p in booked)
    assert all(1 <= p.instalment <= p.instalments for p in booked)


ANY_DAY = st.dates()


@given(schedules(), variation_sets(), indexations(), ANY_DAY, st.randoms())
def test_schedules_and_factors_are_deterministic_for_any_date(
    schedule: tuple[pricing.Tranche, ...],
    added: tuple[pricing.Variation, ...],
    indexation: pricing.Indexation,
    day: date,
    rnd: random.Random,
) -> None:
    shuffled_tranches, shuffled_variations = list(schedule), list(added)
    rnd.shuffle(shuffled_tranches)
    rnd.shuffle(shuffled_variations)
    steps = list(indexation.steps)
    rnd.shuffle(steps)
    for payer in PAYERS:
        on_the_day = tranches.due(schedule, payer, day, day, "DKK")
        assert tranches.due(shuffled_tranches, payer, day, day, "DKK") == on_the_day
        assert sorted((p.code, p.amount) for p in on_the_day) == sorted(
            (t.code, amount) for t in schedule if t.payer == payer for d, amount in t.payments if d == day
        )
        scenario = variations.due(added, payer, day, day, "DKK")
        assert variations.due(shuffled_variations, payer, day, day, "DKK") == scenario
    at = ix.factor(indexation, day)
    assert ix.factor(pricing.Indexation(tuple(steps)), day) == at == ix.factor(indexation, day)
    covering = [v for v in added if v.start <= day <= v.end]
    assert variations.covering(added, day) == (covering[0] if covering else None)
    assert variations.covering(shuffled_variations, day) == variations.covering(added, day)
