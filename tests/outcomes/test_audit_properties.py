"""Properties of the post-payment audit engine (pricing.audits) over generated populations, rules and
findings: no audit claws back more than was paid for its population, nor any claim more than it was paid;
each invalid claim is clawed back once, at its paid amount; the extrapolation is the error rate by value
on the unsampled value, rounded half up to the minor unit, held to the cap and the threshold; the draw is
deterministic for a seed, independent of the population's order, and the size the rule says; a statement's
total is the sum of its lines with clawbacks booked into it."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.outcomes.pricing import audits

ZERO = Decimal(0)
AMOUNTS = st.integers(1, 10_000_000).map(lambda u: Decimal(u).scaleb(-2))
PERCENTS = st.integers(1, 10_000).map(lambda u: Decimal(u).scaleb(-2))
SEEDS = st.text("abcdef0123456789-", min_size=8, max_size=40)


@st.composite
def populations(draw: st.DrawFn) -> list[audits.Paid]:
    ids = draw(st.sets(st.integers(1, 10**9), min_size=1, max_size=60))
    return [audits.Paid(UUID(int=i), draw(AMOUNTS)) for i in sorted(ids)]


@st.composite
def rules(draw: st.DrawFn) -> audits.Rule:
    by_size = draw(st.booleans())
    extrapolate: Literal["none", "by_value"] = draw(st.sampled_from(["none", "by_value"]))
    return audits.Rule(
        draw(st.integers(1, 80)) if by_size else None,
        None if by_size else draw(PERCENTS),
        extrapolate,
        draw(st.none() | PERCENTS) if extrapolate == "by_value" else None,
        draw(st.none() | AMOUNTS) if extrapolate == "by_value" else None,
    )


@st.composite
def audited(draw: st.DrawFn) -> tuple[audits.Rule, list[audits.Paid], tuple[UUID, ...], set[UUID]]:
    rule, population, seed = draw(rules()), draw(populations()), draw(SEEDS)
    sample = audits.draw(seed, [p.claim_id for p in population], audits.sample_size(rule, len(population)))
    invalid = {c for c in sample if draw(st.booleans())}
    return rule, population, sample, invalid


@given(audited())
def test_no_audit_claws_back_more_than_was_paid(
    case: tuple[audits.Rule, list[audits.Paid], tuple[UUID, ...], set[UUID]],
) -> None:
    rule, population, sample, invalid = case
    paid = {p.claim_id: p.amount for p in population}
    result = audits.settle(rule, population, sample, invalid, "DKK")
    assert ZERO <= result.total <= sum(paid.values(), ZERO)
    assert [c.claim_id for c in result.clawbacks] == sorted(invalid, key=str)  # each once
    assert all(c.amount == paid[c.claim_id] for c in result.clawbacks)
    unsampled = sum(paid.values(), ZERO) - sum((paid[c] for c in sample), ZERO)
    assert ZERO <= result.extrapolated <= unsampled
    if rule.cap is not None:
        assert result.extrapolated <= rule.cap
    assert result.extrapolated == result.extrapolated.quantize(Decimal("0.01"))


@given(audited())
def test_the_extrapolation_is_the_error_rate_by_value_on_the_unsampled_value(
    case: tuple[audits.Rule, list[audits.Paid], tuple[UUID, ...], set[UUID]],
) -> None:
    rule, population, sample, invalid = case
    paid = {p.claim_id: p.amount for p in population}
    result = audits.settle(rule, population, sample, invalid, "DKK")
    sampled = sum((paid[c] for c in sample), ZERO)
    bad = sum((paid[c] for c in invalid), ZERO)
    unsampled = sum(paid.values(), ZERO) - sampled
    # By hand, in whole øre: bad / sampled * unsampled, half up (integers, so no rounding but the last).
    numerator, denominator = int(bad * 100) * int(unsampled * 100), int(sampled * 100)
    quotient, remainder = divmod(numerator, denominator)
    expected = Decimal(quotient + (1 if 2 * remainder >= denominator else 0)).scaleb(-2)
    under_threshold = rule.threshold_percent is not None and bad * 100 <= rule.threshold_percent * sampled
    if rule.extrapolation == "none" or not invalid or under_threshold:
        expected = ZERO
    elif rule.cap is not None:
        expected = min(expected, rule.cap)
    assert result.extrapolated == expected, result.working
    assert Decimal(result.working["total"]) == result.total


@given(rules(), populations(), SEEDS, st.randoms())
def test_the_draw_is_deterministic_and_of_the_rules_size(
    rule: audits.Rule, population: list[audits.Paid], seed: str, rnd: object
) -> None:
    ids = [p.claim_id for p in population]
    size = audits.sample_size(rule, len(ids))
    shuffled = list(ids)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = audits.draw(seed, ids, size)
    assert first == audits.draw(seed, shuffled, size)
    assert len(first) == size == len(set(first))
    if rule.sample_size is not None:
        assert size == min(rule.sample_size, len(ids))
    else:
        assert rule.sample_percent is not None
        assert size == min(len(ids), max(1, math.ceil(rule.sample_percent * len(ids) / 100)))
    # The lowest ranks, as anyone can compute with a SHA-256 tool.
    assert list(first) == sorted(ids, key=lambda c: audits.rank(seed, c))[:size]


@given(audited(), st.lists(AMOUNTS, max_size=20))
def test_a_statement_equals_the_sum_of_its_lines_with_the_clawbacks(
    case: tuple[audits.Rule, list[audits.Paid], tuple[UUID, ...], set[UUID]], claim_lines: list[Decimal]
) -> None:
    """The lines a closed audit books (each clawback and the extrapolation, negative) beside the next
    period's claim lines: the statement's total is their sum, and its audit total what the audit took."""
    rule, population, sample, invalid = case
    result = audits.settle(rule, population, sample, invalid, "DKK")
    booked = [-c.amount for c in result.clawbacks] + ([-result.extrapolated] if result.extrapolated else [])
    lines = [*claim_lines, *booked]
    total = sum(lines, ZERO)
    assert total == sum(claim_lines, ZERO) - result.total
    assert -sum(booked, ZERO) == result.total
    assert Decimal(result.working["clawed_back"]) + Decimal(result.working["extrapolated"]) == result.total


def test_the_worked_example() -> None:
    """docs/contract-terms.md, Post-payment audits: 3 of 10 claims sampled, one invalid."""
    population = [audits.Paid(UUID(int=i), Decimal("25000.00")) for i in range(1, 9)] + [
        audits.Paid(UUID(int=9), Decimal("18000.00")),
        audits.Paid(UUID(int=10), Decimal("12000.00")),
    ]
    rule = audits.Rule(3, None, "by_value", Decimal("2"), Decimal("100000"))
    sample = (UUID(int=1), UUID(int=9), UUID(int=10))
    result = audits.settle(rule, population, sample, {UUID(int=9)}, "DKK")
    assert [(c.claim_id, c.amount) for c in result.clawbacks] == [(UUID(int=9), Decimal("18000.00"))]
    # 18 000 / 55 000 of the sample by value, times the 175 000.00 not sampled = 57 272.7272… → 57 272.73.
    assert result.extrapolated == Decimal("57272.73")
    assert result.working["error_rate_percent"] == "32.7273"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"sampled": [UUID(int=99)]}, "outside the population"),
        ({"invalid": [UUID(int=2)]}, "outside the sample"),
    ],
)
def test_findings_outside_the_sample_are_refused(bad: dict[str, list[UUID]], message: str) -> None:
    population = [audits.Paid(UUID(int=1), Decimal("10.00")), audits.Paid(UUID(int=2), Decimal("5.00"))]
    args = {"sampled": [UUID(int=1)], "invalid": []} | bad
    with pytest.raises(ValueError, match=message):
        audits.settle(audits.Rule(1, None), population, args["sampled"], args["invalid"], "DKK")


def test_half_an_ore_rounds_up() -> None:
    amounts = [Decimal("1.00"), Decimal("1.00"), Decimal("0.01")]
    population = [audits.Paid(UUID(int=i), a) for i, a in enumerate(amounts, 1)]
    # Half the sample invalid by value, on 0.01 not sampled: 0.005, which rounds half up to 0.01.
    rule = audits.Rule(2, None, "by_value")
    result = audits.settle(rule, population, [UUID(int=1), UUID(int=2)], [UUID(int=1)], "DKK")
    assert result.extrapolated == Decimal("0.01") == Decimal("0.005").quantize(Decimal("0.01"), ROUND_HALF_UP)
