"""Properties of the pricing engine over generated contracts and claim histories: no total exceeds any
cap; a statement is the sum of its lines; tiers and prices do not depend on verification order; a
retroactive amendment's adjustments bring every claim to the price the in-force version gives it."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes import pricing

FUND, HOME_A, HOME_B = UUID(int=1), UUID(int=2), UUID(int=3)
PARTICIPANTS = [f"p{i}" for i in range(6)]
PERIODS = ["2027-Q1", "2027-Q2"]
SEGMENTS = ["standard", "high"]
HOURS = pricing.FactSpec("hours_per_week", "decimal")


def _money(low: int = 0, high: int = 40_000) -> st.SearchStrategy[Decimal]:
    return st.integers(low * 100, high * 100).map(lambda u: Decimal(u).scaleb(-2))


def _maybe(strategy: st.SearchStrategy[Decimal]) -> st.SearchStrategy[Decimal | None]:
    return st.none() | strategy


@st.composite
def tariffs(draw: st.DrawFn, *, segmented: bool) -> pricing.Tariff:
    if segmented and draw(st.booleans()):
        return pricing.BySegment({s: draw(_money(1)) for s in SEGMENTS})
    return draw(_money(1))


@st.composite
def tier_lists(draw: st.DrawFn, *, segmented: bool) -> tuple[pricing.Tier, ...]:
    bounds = sorted(draw(st.lists(st.integers(1, 8), min_size=0, max_size=2, unique=True)))
    ups: list[int | None] = [*bounds, None]
    return tuple(pricing.Tier(up, draw(tariffs(segmented=segmented))) for up in ups)


@st.composite
def rules(draw: st.DrawFn, *, segmented: bool, tiered: bool = True) -> pricing.Rule:
    kind = draw(st.sampled_from(["flat", "tiers", "bands"] if tiered else ["flat", "bands"]))
    if kind == "flat":
        return pricing.Flat(draw(tariffs(segmented=segmented)))
    if kind == "tiers":
        return pricing.Tiered(draw(tier_lists(segmented=segmented)))
    low = pricing.Band("PART_TIME", Decimal(8), Decimal(16), draw(tariffs(segmented=segmented)))
    high_price = (
        draw(tier_lists(segmented=segmented))
        if tiered and draw(st.booleans())
        else draw(tariffs(segmented=segmented))
    )
    return pricing.Bands("hours_per_week", (low, pricing.Band("FULL_TIME", Decimal(16), None, high_price)))


@st.composite
def splits(draw: st.DrawFn) -> pricing.Split:
    residence = pricing.ResidenceSplit(((HOME_A, "101"), (HOME_B, "147")))
    kind = draw(st.sampled_from(["fixed", "residence", "mixed"]))
    if kind == "fixed":
        first = Decimal(draw(st.integers(0, 10000))) / 100
        return pricing.FixedSplit((pricing.Share(HOME_A, first), pricing.Share(HOME_B, 100 - first)))
    if kind == "residence":
        return residence
    fund = Decimal(draw(st.integers(1, 9999))) / 100
    return pricing.MixedSplit((pricing.Share(FUND, fund),), residence)


@st.composite
def contracts(draw: st.DrawFn, *, caps: bool = True) -> pricing.Contract:
    return pricing.Contract(
        currency="DKK",
        split=draw(splits()),
        caps=pricing.Caps(
            per_participant=draw(_maybe(_money(0, 80_000))),
            contract_total=draw(_maybe(_money(0, 200_000))),
            per_period=draw(_maybe(_money(0, 150_000))),
            per_payer={org: draw(_money(0, 100_000)) for org in (FUND, HOME_A) if draw(st.booleans())},
        )
        if caps
        else pricing.Caps(),
        facts=(HOURS,),
    )


@st.composite
def outcomes(draw: st.DrawFn, code: str, *, segmented: bool = True, caps: bool = True) -> pricing.Outcome:
    own = ((FUND, draw(tariffs(segmented=segmented))),) if draw(st.booleans()) else ()
    return pricing.Outcome(
        code=code,
        rule=draw(rules(segmented=segmented)),
        cap=pricing.OutcomeCap(draw(st.none() | st.integers(0, 6)), draw(_maybe(_money(0, 100_000))))
        if caps
        else pricing.OutcomeCap(),
        payer_tariffs=own,
    )


@dataclass(frozen=True)
class Verified:
    participant: str
    outcome: str
    period: str
    claim: pricing.Claim


@st.composite
def histories(draw: st.DrawFn, codes: tuple[str, ...]) -> list[Verified]:
    found = []
    homes = {p: draw(st.sampled_from(["101", "147"])) for p in PARTICIPANTS}
    segments = {p: draw(st.sampled_from(SEGMENTS)) for p in PARTICIPANTS}
    for _ in range(draw(st.integers(1, 15))):
        participant = draw(st.sampled_from(PARTICIPANTS))
        code = draw(st.sampled_from(codes))
        hours = Decimal(draw(st.integers(80, 400))) / 10
        claim = pricing.Claim(code, {"hours_per_week": hours}, segments[participant], homes[participant])
        found.append(Verified(participant, code, draw(st.sampled_from(PERIODS)), claim))
    return found


def _price_all(
    history: list[Verified], contract: pricing.Contract, rules_by_code: dict[str, pricing.Outcome]
) -> list[pricing.Price]:
    steps = [pricing.Step(v.participant, v.outcome, v.period) for v in history]

    def price(i: int, book: pricing.Book) -> pricing.Price:
        v = history[i]
        return pricing.price(
            v.claim, rules_by_code[v.outcome], contract, book.usage(v.participant, v.outcome, v.period)
        )

    return pricing.replay(steps, price)


CODES = ("JOB_START", "SUSTAINED")
World = tuple[pricing.Contract, dict[str, pricing.Outcome], list[Verified]]


@st.composite
def worlds(draw: st.DrawFn, *, caps: bool = True, segmented: bool = True) -> World:
    contract = draw(contracts(caps=caps))
    rules_by_code = {code: draw(outcomes(code, segmented=segmented, caps=caps)) for code in CODES}
    return contract, rules_by_code, draw(histories(CODES))


@settings(max_examples=100, deadline=None)
@given(world=worlds())
def test_no_total_ever_exceeds_any_cap(world: World) -> None:
    contract, rules_by_code, history = world
    prices = _price_all(history, contract, rules_by_code)
    caps = contract.caps
    by: dict[str, defaultdict[str, Decimal]] = {
        k: defaultdict(Decimal) for k in ("participant", "period", "outcome")
    }
    payers: defaultdict[UUID, Decimal] = defaultdict(Decimal)
    paid_count: Counter[str] = Counter()
    for v, price in zip(history, prices, strict=True):
        assert pricing.ZERO <= price.payable <= price.tariff
        assert price.payable + sum(c.amount for c in price.cuts) == price.tariff
        by["participant"][v.participant] += price.payable
        by["period"][v.period] += price.payable
        by["outcome"][v.outcome] += price.payable
        paid_count[v.outcome] += price.payable > 0
        for line in price.lines:
            assert pricing.ZERO <= line.amount <= line.tariff_share
            payers[line.organisation_id] += line.amount
    total = sum((p.payable for p in prices), pricing.ZERO)
    if caps.contract_total is not None:
        assert total <= caps.contract_total
    if caps.per_participant is not None:
        assert all(x <= caps.per_participant for x in by["participant"].values())
    if caps.per_period is not None:
        assert all(x <= caps.per_period for x in by["period"].values())
    for org, maximum in caps.per_payer.items():
        assert payers[org] <= maximum
    for code, rule in rules_by_code.items():
        if rule.cap.amount is not None:
            assert by["outcome"][code] <= rule.cap.amount
        if rule.cap.count is not None:
            assert paid_count[code] <= rule.cap.count


@settings(max_examples=100, deadline=None)
@given(world=worlds())
def test_a_statement_equals_the_sum_of_its_lines(world: World) -> None:
    """Each payer's statement for a period sums its lines; all statements together are what was payable."""
    contract, rules_by_code, history = world
    prices = _price_all(history, contract, rules_by_code)
    statements: defaultdict[tuple[UUID, str], list[Decimal]] = defaultdict(list)
    for v, price in zip(history, prices, strict=True):
        assert sum((x.amount for x in price.lines), pricing.ZERO) == price.payable
        assert sum((x.tariff_share for x in price.lines), pricing.ZERO) == price.tariff
        for line in price.lines:
            statements[(line.organisation_id, v.period)].append(line.amount)
    total = sum((sum(lines, pricing.ZERO) for lines in statements.values()), pricing.ZERO)
    assert total == sum((p.payable for p in prices), pricing.ZERO)
    for lines in statements.values():
        assert all(x == x.quantize(Decimal("0.01")) for x in lines)


@settings(max_examples=100, deadline=None)
@given(world=worlds(), seed=st.integers(0, 2**32))
def test_tier_occupancy_and_the_capped_total_do_not_depend_on_verification_order(
    world: World, seed: int
) -> None:
    """However the same claims are ordered, each outcome's tiers hold the same number of claims; with one
    price per tier (no segment prices, no per-participant, period or payer caps) the total is the same."""
    contract, rules_by_code, history = world
    shuffled = history[:]
    random.Random(seed).shuffle(shuffled)

    def occupancy(h: list[Verified]) -> Counter[tuple[str, str | None, int | None]]:
        prices = _price_all(h, contract, rules_by_code)
        return Counter(
            (v.outcome, p.working.band if p.working else None, p.working.tier if p.working else None)
            for v, p in zip(h, prices, strict=True)
            if not isinstance(rules_by_code[v.outcome].rule, pricing.Bands)  # a family's bands share counts
        )

    assert occupancy(history) == occupancy(shuffled)

    uniform = pricing.Contract(
        "DKK",
        pricing.FixedSplit((pricing.Share(HOME_A, Decimal(100)),)),
        pricing.Caps(contract_total=contract.caps.contract_total),
        facts=(HOURS,),
    )
    one_price = {
        code: pricing.Outcome(
            code,
            pricing.Tiered(
                tuple(
                    pricing.Tier(t.up_to, pricing.quantise(Decimal(i * 1000 + 500), "DKK"))
                    for i, t in enumerate(_tiers(rule))
                )
            ),
            cap=rule.cap,
        )
        for code, rule in rules_by_code.items()
    }
    totals = [
        sum((p.payable for p in _price_all(h, uniform, one_price)), pricing.ZERO) for h in (history, shuffled)
    ]
    assert totals[0] == totals[1]


def _tiers(outcome: pricing.Outcome) -> tuple[pricing.Tier, ...]:
    rule = outcome.rule
    if isinstance(rule, pricing.Tiered):
        return rule.tiers
    return (pricing.Tier(None, Decimal(0)),)


@settings(max_examples=100, deadline=None)
@given(world=worlds(caps=False), seed=st.integers(0, 2**32))
def test_without_tiers_or_caps_each_claim_prices_the_same_in_any_order(world: World, seed: int) -> None:
    contract, rules_by_code, history = world
    flat = {
        code: pricing.Outcome(code, rule.rule, payer_tariffs=rule.payer_tariffs)
        for code, rule in rules_by_code.items()
        if not _has_tiers(rule.rule)
    }
    history = [v for v in history if v.outcome in flat]
    order = list(range(len(history)))
    random.Random(seed).shuffle(order)
    first = _price_all(history, contract, flat)
    second = _price_all([history[i] for i in order], contract, flat)

    def seen(p: pricing.Price) -> tuple[object, ...]:
        return (p.tariff, p.payable, p.cuts, p.lines, p.working.band if p.working else None)

    assert [seen(first[i]) for i in order] == [seen(p) for p in second]


def _has_tiers(rule: pricing.Rule) -> bool:
    if isinstance(rule, pricing.Tiered):
        return True
    if isinstance(rule, pricing.Bands):
        return any(isinstance(b.price, tuple) for b in rule.bands)
    return False


@settings(max_examples=60, deadline=None)
@given(world=worlds(), amended=st.data())
def test_a_retroactive_amendments_adjustments_bring_every_claim_to_the_in_force_price(
    world: World, amended: st.DataObject
) -> None:
    """Claims priced under version 1; version 2 takes effect from an earlier date than it is activated.
    Re-pricing the history under the version in force on each achievement date, each payer's booked lines
    plus its adjustments equal the re-priced lines; a second activation books nothing more."""
    contract, old_rules, history = world
    new_rules = {code: amended.draw(outcomes(code)) for code in CODES}
    new_contract = amended.draw(contracts())
    effective = amended.draw(st.integers(0, len(history)))
    achieved_from = {i: i >= effective for i in range(len(history))}  # claims achieved on/after the date
    booked = _price_all(history, contract, old_rules)

    def in_force(i: int, book: pricing.Book) -> pricing.Price:
        v = history[i]
        rules, terms = (new_rules, new_contract) if achieved_from[i] else (old_rules, contract)
        return pricing.price(v.claim, rules[v.outcome], terms, book.usage(v.participant, v.outcome, v.period))

    steps = [pricing.Step(v.participant, v.outcome, v.period) for v in history]
    repriced = pricing.replay(steps, in_force)
    for old, new in zip(booked, repriced, strict=True):
        adjustments = pricing.adjustments(old.lines, new.lines)
        after: defaultdict[UUID, tuple[Decimal, Decimal]] = defaultdict(lambda: (pricing.ZERO, pricing.ZERO))
        for line in old.lines:
            t, a = after[line.organisation_id]
            after[line.organisation_id] = (t + line.tariff_share, a + line.amount)
        for adj in adjustments:
            t, a = after[adj.organisation_id]
            after[adj.organisation_id] = (t + adj.tariff_share, a + adj.amount)
        nothing = (pricing.ZERO, pricing.ZERO)
        want = {x.organisation_id: (x.tariff_share, x.amount) for x in new.lines}
        assert {k: v for k, v in after.items() if v != nothing} == {
            k: v for k, v in want.items() if v != nothing
        }
        assert not pricing.adjustments(new.lines, new.lines)
    assert pricing.replay(steps, in_force) == repriced
