"""The engine's mechanisms one at a time: criteria and their reasons, bands chosen from a fact, tiers by
count, segment prices, the caps each named, payers' own prices, mixed splits and per-payer maxima,
restarts, and adjustments."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from services.outcomes import pricing
from services.outcomes.clients.contracts import Terms
from services.outcomes.pricing import Cut, Line

D = Decimal
FUND, AARHUS, HERNING = UUID(int=1), UUID(int=2), UUID(int=3)
FACTS = (
    pricing.FactSpec("hours_per_week", "decimal", unit="hours"),
    pricing.FactSpec("weeks_in_work", "integer", unit="weeks", measure="continuous"),
    pricing.FactSpec("off_benefit", "boolean"),
    pricing.FactSpec("qualification_level", "choice", choices=("1", "2", "3")),
)
RESIDENCE = pricing.ResidenceSplit(((AARHUS, "751"), (HERNING, "657")))
CONTRACT = pricing.Contract("DKK", RESIDENCE, facts=FACTS)
HOURS = pricing.Bands(
    "hours_per_week",
    (
        pricing.Band("PART_TIME", D(8), D(16), D("8000.00")),
        pricing.Band("FULL_TIME", D(16), None, D("16000.00")),
    ),
)


def _claim(code: str = "JOB", segment: str | None = None, **facts: object) -> pricing.Claim:
    return pricing.Claim(code, facts, segment, "751")


def _price(
    outcome: pricing.Outcome, claim: pricing.Claim, terms: pricing.Contract = CONTRACT, /, **usage: object
) -> pricing.Price:
    return pricing.price(claim, outcome, terms, pricing.CapUsage(**usage))  # type: ignore[arg-type]


def test_a_claim_missing_a_criterion_is_refused_with_the_fact_and_the_threshold() -> None:
    outcome = pricing.Outcome(
        "SUSTAINED",
        pricing.Flat(D("10000.00")),
        criteria=(
            pricing.Criterion("off_benefit", "eq", True),
            pricing.Criterion("weeks_in_work", "gte", 26),
        ),
    )
    with pytest.raises(pricing.Refused) as refused:
        _price(outcome, _claim(off_benefit=True, weeks_in_work=20))
    assert refused.value.path == "facts.weeks_in_work"
    assert refused.value.reason == "`weeks_in_work` is 20; the outcome needs weeks_in_work ≥ 26"
    with pytest.raises(pricing.Refused, match="needs the fact `off_benefit`"):
        _price(outcome, _claim(weeks_in_work=30))
    assert _price(outcome, _claim(off_benefit=True, weeks_in_work=26)).payable == D("10000.00")


def test_facts_are_read_as_their_declared_types_and_undeclared_ones_refused() -> None:
    outcome = pricing.Outcome(
        "Q", pricing.Flat(D(1)), criteria=(pricing.Criterion("qualification_level", "in", ("2", "3")),)
    )
    with pytest.raises(pricing.Refused, match="must be one of: 1, 2, 3"):
        _price(outcome, _claim(qualification_level="4"))
    with pytest.raises(pricing.Refused, match="must be a whole number"):
        _price(outcome, _claim(qualification_level="2", weeks_in_work=2.5))
    with pytest.raises(pricing.Refused, match="declare no fact `hours`"):
        _price(outcome, _claim(qualification_level="2", hours=3))
    with pytest.raises(pricing.Refused, match="needs qualification_level in \\[2, 3\\]"):
        _price(outcome, _claim(qualification_level="1"))


def test_the_band_is_chosen_from_the_fact_never_by_the_provider() -> None:
    outcome = pricing.Outcome("JOB", HOURS)
    part = _price(outcome, _claim(hours_per_week="15.99"))
    full = _price(outcome, _claim(hours_per_week=16))
    assert (part.working and part.working.band, part.payable) == ("PART_TIME", D("8000.00"))
    assert (full.working and full.working.band, full.payable) == ("FULL_TIME", D("16000.00"))
    with pytest.raises(pricing.Refused, match=r"is 7\.5, in no band .*PART_TIME \[8, 16\)"):
        _price(outcome, _claim(hours_per_week=7.5))


def test_tiers_follow_the_count_before_this_claim() -> None:
    outcome = pricing.Outcome(
        "JOB",
        pricing.Tiered(
            (
                pricing.Tier(100, D("20000.00")),
                pricing.Tier(250, D("15000.00")),
                pricing.Tier(None, D("10000.00")),
            )
        ),
    )
    assert [_price(outcome, _claim(), outcome_count=n).payable for n in (0, 99, 100, 249, 250, 10_000)] == [
        D("20000.00"),
        D("20000.00"),
        D("15000.00"),
        D("15000.00"),
        D("10000.00"),
        D("10000.00"),
    ]


def test_a_segment_prices_the_participant_and_a_missing_segment_is_refused() -> None:
    outcome = pricing.Outcome(
        "JOB", pricing.Flat(pricing.BySegment({"standard": D("15000.00"), "high": D("22000.00")}))
    )
    assert _price(outcome, _claim(segment="high")).payable == D("22000.00")
    with pytest.raises(pricing.Refused, match="segment"):
        _price(outcome, _claim())


def test_outcome_caps_by_count_and_amount_name_their_cut() -> None:
    outcome = pricing.Outcome(
        "JOB", pricing.Flat(D("5000.00")), cap=pricing.OutcomeCap(count=300, amount=D("1000000.00"))
    )
    assert _price(outcome, _claim(), outcome_count=300).cuts == (Cut("outcome_count", D("5000.00")),)
    assert _price(outcome, _claim(), outcome_count=10, outcome_paid=D("998000.00")).cuts == (
        Cut("outcome_amount", D("3000.00")),
    )


def test_a_mixed_split_tops_up_a_fixed_share_and_residence_pays_the_rest() -> None:
    """The Danish 'fund tops up 30 %' pattern: the fund pays 30 %, the home municipality the other 70 %."""
    contract = pricing.Contract("DKK", pricing.MixedSplit((pricing.Share(FUND, D(30)),), RESIDENCE))
    price = _price(pricing.Outcome("JOB", pricing.Flat(D("20000.01"))), _claim(), contract)
    assert price.lines == (Line(FUND, D("6000.00"), D("6000.00")), Line(AARHUS, D("14000.01"), D("14000.01")))


def test_a_payer_at_its_maximum_has_only_its_share_cut() -> None:
    contract = pricing.Contract(
        "DKK",
        pricing.MixedSplit((pricing.Share(FUND, D(50)),), RESIDENCE),
        pricing.Caps(per_payer={FUND: D("100000.00")}),
    )
    price = _price(
        pricing.Outcome("JOB", pricing.Flat(D("10000.00"))), _claim(), contract, payers={FUND: D("98000.00")}
    )
    assert price.lines == (Line(FUND, D("5000.00"), D("2000.00")), Line(AARHUS, D("5000.00"), D("5000.00")))
    assert price.cuts == (Cut(f"per_payer:{FUND}", D("3000.00")),)
    assert (price.tariff, price.payable, price.cut) == (D("10000.00"), D("7000.00"), D("3000.00"))


def test_a_payers_own_price_is_added_on_top_and_paid_by_it_alone() -> None:
    outcome = pricing.Outcome("JOB", pricing.Flat(D("10000.00")), payer_tariffs=((FUND, D("2500.00")),))
    price = _price(outcome, _claim())
    assert price.lines == (Line(AARHUS, D("10000.00"), D("10000.00")), Line(FUND, D("2500.00"), D("2500.00")))
    capped = _price(
        outcome, _claim(), pricing.Contract("DKK", RESIDENCE, pricing.Caps(contract_total=D("5000.00")))
    )
    assert capped.cuts == (Cut("contract_total", D("7500.00")),)
    assert capped.lines == (Line(AARHUS, D("10000.00"), D("4000.00")), Line(FUND, D("2500.00"), D("1000.00")))


def test_the_narrowest_binding_cap_takes_the_cut_first() -> None:
    caps = pricing.Caps(per_participant=D("12000"), contract_total=D("1000000"), per_period=D("50000"))
    price = _price(
        pricing.Outcome("JOB", pricing.Flat(D("10000.00"))),
        _claim(),
        pricing.Contract("DKK", RESIDENCE, caps),
        participant=D("8000"),
        contract=D("995000"),
        period=D("49000"),
    )
    assert price.cuts == (Cut("per_participant", D("6000.00")), Cut("per_period", D("3000.00")))
    assert price.payable == D("1000.00")


def test_a_restart_anchors_on_the_latest_start_an_end_event_did_not_close() -> None:
    starts = [date(2027, 1, 10), date(2027, 6, 1)]
    assert pricing.anchor(starts, [], date(2027, 5, 1)) == date(2027, 1, 10)
    assert pricing.anchor(starts, [date(2027, 3, 1)], date(2027, 5, 1)) is None
    assert pricing.anchor(starts, [date(2027, 3, 1)], date(2027, 9, 1)) == date(2027, 6, 1)
    with pytest.raises(pricing.Refused, match="at most 3"):
        pricing.check_repeat(pricing.Repeat(3, recurs=True), "JOB", 3)


def test_adjustments_are_each_payers_difference() -> None:
    before = [Line(AARHUS, D("10000.00"), D("10000.00"))]
    after = [Line(AARHUS, D("7000.00"), D("7000.00")), Line(FUND, D("3000.00"), D("3000.00"))]
    assert pricing.adjustments(before, after) == (
        pricing.Adjustment(AARHUS, D("-3000.00"), D("-3000.00")),
        pricing.Adjustment(FUND, D("3000.00"), D("3000.00")),
    )


def test_criteria_read_from_the_registrys_json_keep_each_value_as_its_facts_type() -> None:
    """The service reads terms from the registry's JSON bytes: a choice criterion's `"2"` must stay the
    choice "2" (pydantic's JSON mode once read it as Decimal 2, and every qualification was refused), a
    decimal's `"16"` must compare as 16 and an integer's 26 as 26."""
    document = {
        "schema_version": 2,
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "facts": [
            {"name": "qualification_level", "type": "choice", "choices": ["1", "2", "3"]},
            {"name": "hours_per_week", "type": "decimal"},
            {"name": "weeks_in_work", "type": "integer"},
        ],
        "outcomes": [
            {
                "code": "qualification",
                "tariff": "12000.00",
                "criteria": [
                    {"fact": "qualification_level", "op": "in", "value": ["2", "3"]},
                    {"fact": "hours_per_week", "op": "gte", "value": "16"},
                    {"fact": "weeks_in_work", "op": "gte", "value": 26},
                ],
            }
        ],
        "payer_split": {"method": "fixed", "shares": [{"organisation_id": str(AARHUS), "percent": "100"}]},
    }
    terms = Terms.model_validate_json(json.dumps(document))
    outcome = terms.engine_outcome("qualification")
    assert outcome is not None
    contract = terms.engine()
    met = _claim("qualification", qualification_level="2", hours_per_week="16", weeks_in_work=26)
    assert _price(outcome, met, contract).payable == D("12000.00")
    with pytest.raises(pricing.Refused, match="needs qualification_level in \\[2, 3\\]"):
        _price(outcome, _claim("qualification", qualification_level="1"), contract)
    with pytest.raises(pricing.Refused, match="needs hours_per_week ≥ 16"):
        _price(outcome, _claim("qualification", qualification_level="3", hours_per_week="15.5"), contract)
