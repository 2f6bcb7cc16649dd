"""Cohort formula outcomes in terms version 2 through the registry's API: a cohort outcome is accepted and
normalised; every bad one is a 422 naming its JSON path; its cap counts in what the contract can pay in
all; a document without cohort outcomes hashes as it did before they existed."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import httpx
import pytest

from effekt.sandbox.terms import cohort_outcome
from tests.actors import Cast
from tests.contracts.rate_cards import employment_rate_card
from tests.contracts.support import assert_problem

FUND = uuid4()
STRANGER = str(uuid4())


def card(cast: Cast, **overrides: Any) -> dict[str, Any]:
    """The employment rate card (2027-2029) with a cohort outcome paid by the fund."""
    doc = employment_rate_card(cast, FUND)
    savings = cohort_outcome(
        "employment_savings",
        FUND,
        (date(2027, 1, 1), date(2029, 12, 31)),
        share_percent="30.5",
        cap="2500000",
    )
    doc["cohort_outcomes"] = [savings | overrides]
    return doc


async def _validate(contracts: httpx.AsyncClient, cast: Cast, doc: dict[str, Any]) -> httpx.Response:
    return await contracts.post("/v1/terms-validations", json=doc, headers=cast.provider.headers)


async def test_a_cohort_outcome_is_valid_and_normalised(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    response = await _validate(contracts, shared_cast, card(shared_cast))
    assert response.status_code == 200, response.text
    [cohort] = response.json()["terms"]["cohort_outcomes"]
    assert (cohort["share_percent"], cohort["cap"], cohort["may_be_negative"]) == (
        "30.5",
        "2500000.00",
        False,
    )
    assert [(m["code"], m["better"]) for m in cohort["measures"]] == [
        ("benefits_paid", "lower"),
        ("taxes_paid", "higher"),
    ]


async def test_a_document_without_cohort_outcomes_hashes_as_before(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    without = employment_rate_card(shared_cast, FUND)
    empty = employment_rate_card(shared_cast, FUND) | {"cohort_outcomes": []}
    first = (await _validate(contracts, shared_cast, without)).json()
    second = (await _validate(contracts, shared_cast, empty)).json()
    assert "cohort_outcomes" not in first["terms"]
    assert first["content_hash"] == second["content_hash"]


MEASURE = {"code": "benefits_paid", "name": "Benefits", "better": "lower"}

# case -> (the cohort outcome's overrides, the invalid_params name, words its reason contains)
INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "a payer that is not an outcome payer": (
        {"payer_organisation_id": STRANGER}, "cohort_outcomes.0.payer_organisation_id", "outcome_payer"),
    "a horizon ending before it starts": (
        {"horizon": {"start": "2028-01-01", "end": "2027-12-31"}}, "cohort_outcomes.0.horizon.end",
        "not be before"),
    "a horizon past the contract": (
        {"horizon": {"start": "2027-01-01", "end": "2030-06-30"}}, "cohort_outcomes.0.horizon.end",
        "within the contract"),
    "a zero cap": ({"cap": "0"}, "cohort_outcomes.0.cap", "more than zero"),
    "a cap finer than øre": ({"cap": "10.005"}, "cohort_outcomes.0.cap", "minor unit"),
    "a cap as a JSON number": ({"cap": 1000.5}, "cohort_outcomes.0.cap", "decimal string"),
    "a share above 100": ({"share_percent": "100.5"}, "cohort_outcomes.0.share_percent", "100"),
    "a zero share": ({"share_percent": "0"}, "cohort_outcomes.0.share_percent", "greater than 0"),
    "no measures": ({"measures": []}, "cohort_outcomes.0.measures", "at least 1"),
    "a duplicate measure": (
        {"measures": [MEASURE, MEASURE]}, "cohort_outcomes.0.measures.1.code", "duplicate measure code"),
    "an unknown direction": (
        {"measures": [MEASURE | {"better": "more"}]}, "cohort_outcomes.0.measures.0.better",
        "'lower' or 'higher'"),
    "an unknown comparison": (
        {"comparison": "before_and_after"}, "cohort_outcomes.0.comparison", "randomised_control"),
    "no cohort size": ({"max_cohort_size": 0}, "cohort_outcomes.0.max_cohort_size", "greater than or equal"),
    "a formula as an expression": (
        {"formula": "share * (a - b)"}, "cohort_outcomes.0.formula", "unknown field `formula`"),
    "a misspelt key": ({"measure": []}, "cohort_outcomes.0.measure", "did you mean `measures`?"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INVALID))
async def test_bad_cohort_outcomes_are_refused_naming_the_path(
    contracts: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    overrides, field, words = INVALID[case]
    body = assert_problem(
        await _validate(contracts, shared_cast, card(shared_cast, **overrides)),
        422,
        "validation-failed",
        f"body.{field}",
    )
    reasons = [p["reason"] for p in body["invalid_params"] if p["name"] == f"body.{field}"]
    assert any(words in reason for reason in reasons), body


async def test_a_duplicate_cohort_code_is_refused_at_the_second(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    doc = card(shared_cast)
    doc["cohort_outcomes"].append(doc["cohort_outcomes"][0])
    body = assert_problem(
        await _validate(contracts, shared_cast, doc), 422, "validation-failed", "body.cohort_outcomes.1.code"
    )
    assert any("duplicate cohort outcome code" in p["reason"] for p in body["invalid_params"]), body


async def test_cohort_caps_count_towards_what_the_contract_can_pay_in_all(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    body = assert_problem(
        await _validate(contracts, shared_cast, card(shared_cast, cap="999999999999999")),
        422,
        "validation-failed",
    )
    assert any(p["name"] == "body.caps.contract_total" for p in body["invalid_params"]), body
