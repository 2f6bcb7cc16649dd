"""Temporary variations in terms version 2 through the registry's API: a variation is accepted and
normalised to the currency's minor unit; every bad one is a 422 naming its JSON path (overlapping
variations, a period outside the contract or not whole months, a currency other than the contract's, a
payer that is not an outcome payer, ...); a document without variations hashes as before they existed."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import httpx
import pytest

from effekt.sandbox.terms import variation
from tests.actors import Cast
from tests.contracts.rate_cards import employment_rate_card
from tests.contracts.support import assert_problem

FUND = uuid4()
STRANGER = str(uuid4())


def card(cast: Cast, *more: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The employment rate card (2027-2029) with a COVID-style variation for April to June 2028."""
    doc = employment_rate_card(cast, FUND)
    covid = variation(
        "covid_19",
        date(2028, 4, 1),
        date(2028, 6, 30),
        [(cast.payer_a.organisation_id, "9000"), (cast.payer_b.organisation_id, "6000.5")],
        reason="Referrals paused",
    )
    doc["variations"] = [covid | overrides, *more]
    return doc


async def _validate(contracts: httpx.AsyncClient, cast: Cast, doc: dict[str, Any]) -> httpx.Response:
    return await contracts.post("/v1/terms-validations", json=doc, headers=cast.provider.headers)


async def test_a_variation_is_valid_and_normalised(contracts: httpx.AsyncClient, shared_cast: Cast) -> None:
    later = variation("second_wave", date(2028, 10, 1), date(2028, 10, 31), [(FUND, "1500.00")])
    response = await _validate(contracts, shared_cast, card(shared_cast, later))
    assert response.status_code == 200, response.text
    covid, second = response.json()["terms"]["variations"]
    assert covid == {
        "code": "covid_19",
        "scenario": "medium",
        "reason": "Referrals paused",
        "from": "2028-04-01",
        "to": "2028-06-30",
        "currency": "DKK",
        "payments": [
            {"payer_organisation_id": str(shared_cast.payer_a.organisation_id), "monthly_amount": "9000.00"},
            {"payer_organisation_id": str(shared_cast.payer_b.organisation_id), "monthly_amount": "6000.50"},
        ],
    }
    assert second["payments"] == [{"payer_organisation_id": str(FUND), "monthly_amount": "1500.00"}]


async def test_a_document_without_variations_hashes_as_before(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    without = employment_rate_card(shared_cast, FUND)
    empty = employment_rate_card(shared_cast, FUND) | {"variations": []}
    first = (await _validate(contracts, shared_cast, without)).json()
    second = (await _validate(contracts, shared_cast, empty)).json()
    assert "variations" not in first["terms"]
    assert first["content_hash"] == second["content_hash"]
    with_one = (await _validate(contracts, shared_cast, card(shared_cast))).json()
    assert with_one["content_hash"] != first["content_hash"]


def _payments(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"payer_organisation_id": payer, "monthly_amount": amount} for payer, amount in pairs]


OVERLAPPING = variation("second_wave", date(2028, 6, 1), date(2028, 7, 31), [(FUND, "1.00")])
SAME_CODE = variation("covid_19", date(2029, 1, 1), date(2029, 1, 31), [(FUND, "1.00")])

# case -> (the covid variation's overrides, a second variation or None, the invalid_params name, words)
INVALID: dict[str, tuple[dict[str, Any], dict[str, Any] | None, str, str]] = {
    "overlapping variations": ({}, OVERLAPPING, "variations.1", "overlaps variation 0 (`covid_19`"),
    "a duplicate code": ({}, SAME_CODE, "variations.1.code", "duplicate variation code"),
    "a start before the contract": (
        {"from": "2026-12-01"}, None, "variations.0.from", "within the contract (2027-01-01 to 2029-12-31)"),
    "an end after the contract": (
        {"to": "2030-01-31"}, None, "variations.0.to", "within the contract"),
    "a currency other than the contract's": (
        {"currency": "EUR"}, None, "variations.0.currency", "the contract's currency (DKK)"),
    "a start that is not a month's first day": (
        {"from": "2028-04-02"}, None, "variations.0.from", "first day of a month"),
    "an end that is not a month's last day": (
        {"to": "2028-06-29"}, None, "variations.0.to", "last day of a month"),
    "an end before the start": ({"to": "2028-03-31"}, None, "variations.0.to", "not be before `from`"),
    "a payer that is not an outcome payer": (
        {"payments": _payments((STRANGER, "1.00"))}, None,
        "variations.0.payments.0.payer_organisation_id", "outcome_payer"),
    "a payer twice": (
        {"payments": _payments((str(FUND), "1.00"), (str(FUND), "2.00"))}, None,
        "variations.0.payments.1.payer_organisation_id", "already has a scenario payment"),
    "a zero amount": (
        {"payments": _payments((str(FUND), "0"))}, None, "variations.0.payments.0.monthly_amount",
        "more than zero"),
    "an amount finer than øre": (
        {"payments": _payments((str(FUND), "10.005"))}, None, "variations.0.payments.0.monthly_amount",
        "minor unit"),
    "an amount as a JSON number": (
        {"payments": _payments((str(FUND), 10.5))}, None, "variations.0.payments.0.monthly_amount",
        "decimal string"),
    "no payments": ({"payments": []}, None, "variations.0.payments", "at least 1"),
    "a misspelt key": ({"scenaro": "high"}, None, "variations.0.scenaro", "did you mean `scenario`?"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INVALID))
async def test_bad_variations_are_refused_naming_the_path(
    contracts: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    overrides, second, field, words = INVALID[case]
    doc = card(shared_cast, *([second] if second else []), **overrides)
    body = assert_problem(
        await _validate(contracts, shared_cast, doc), 422, "validation-failed", f"body.{field}"
    )
    reasons = [p["reason"] for p in body["invalid_params"] if p["name"] == f"body.{field}"]
    assert any(words in reason for reason in reasons), body


async def test_scenario_payments_count_towards_what_the_contract_can_pay_in_all(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    doc = card(shared_cast, payments=_payments((str(FUND), "999999999999999")))
    body = assert_problem(await _validate(contracts, shared_cast, doc), 422, "validation-failed")
    assert any(p["name"] == "body.caps.contract_total" for p in body["invalid_params"]), body
