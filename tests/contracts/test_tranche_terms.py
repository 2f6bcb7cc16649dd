"""Fixed and guaranteed tranches in terms version 2 through the registry's API: a schedule is accepted and
normalised to the currency's minor unit; every bad tranche is a 422 naming its JSON path, a misspelt key
told apart from an unknown one; a document without tranches hashes as it did before they existed."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import httpx
import pytest

from effekt.sandbox.terms import tranche
from tests.actors import Cast
from tests.contracts.rate_cards import employment_rate_card
from tests.contracts.support import assert_problem

FUND = uuid4()
STRANGER = str(uuid4())


def card(cast: Cast, **tranche_overrides: Any) -> dict[str, Any]:
    """The employment rate card (2027-2029) with a quarterly service fee and a guarantor's payment."""
    doc = employment_rate_card(cast, FUND)
    fee = tranche(
        "service_fee",
        cast.payer_a.organisation_id,
        [(date(2027, 3, 31), "15000"), (date(2027, 6, 30), "15000.5")],
    )
    guarantee = tranche(
        "guarantee", cast.payer_b.organisation_id, [(date(2029, 12, 31), "100000.00")], kind="guaranteed"
    )
    doc["tranches"] = [fee | tranche_overrides, guarantee]
    return doc


async def _validate(contracts: httpx.AsyncClient, cast: Cast, doc: dict[str, Any]) -> httpx.Response:
    return await contracts.post("/v1/terms-validations", json=doc, headers=cast.provider.headers)


async def test_a_tranche_schedule_is_valid_and_normalised(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    response = await _validate(contracts, shared_cast, card(shared_cast))
    assert response.status_code == 200, response.text
    tranches = response.json()["terms"]["tranches"]
    assert [p["amount"] for p in tranches[0]["payments"]] == ["15000.00", "15000.50"]
    assert tranches[1] == {
        "code": "guarantee",
        "name": "Guarantee",
        "kind": "guaranteed",
        "payer_organisation_id": str(shared_cast.payer_b.organisation_id),
        "payments": [{"due_date": "2029-12-31", "amount": "100000.00"}],
    }


async def test_a_document_without_tranches_hashes_as_before(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    without = employment_rate_card(shared_cast, FUND)
    empty = employment_rate_card(shared_cast, FUND) | {"tranches": []}
    first = (await _validate(contracts, shared_cast, without)).json()
    second = (await _validate(contracts, shared_cast, empty)).json()
    assert "tranches" not in first["terms"]
    assert first["content_hash"] == second["content_hash"]
    with_one = (await _validate(contracts, shared_cast, card(shared_cast))).json()
    assert with_one["content_hash"] != first["content_hash"]


def _payments(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"due_date": day, "amount": amount} for day, amount in pairs]


# case -> (the fee tranche's overrides, the invalid_params name, words its reason contains)
INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "a payer that is not an outcome payer": (
        {"payer_organisation_id": STRANGER}, "tranches.0.payer_organisation_id", "outcome_payer"),
    "a date before the contract": (
        {"payments": _payments(("2026-12-31", "1.00"))}, "tranches.0.payments.0.due_date",
        "within the contract"),
    "a date after the contract": (
        {"payments": _payments(("2030-01-01", "1.00"))}, "tranches.0.payments.0.due_date",
        "within the contract"),
    "dates out of order": (
        {"payments": _payments(("2027-06-30", "1.00"), ("2027-03-31", "1.00"))},
        "tranches.0.payments.1.due_date", "after the payment before it"),
    "the same date twice": (
        {"payments": _payments(("2027-06-30", "1.00"), ("2027-06-30", "1.00"))},
        "tranches.0.payments.1.due_date", "after the payment before it"),
    "a zero amount": (
        {"payments": _payments(("2027-06-30", "0"))}, "tranches.0.payments.0.amount", "more than zero"),
    "an amount finer than øre": (
        {"payments": _payments(("2027-06-30", "10.005"))}, "tranches.0.payments.0.amount", "minor unit"),
    "an amount as a JSON number": (
        {"payments": _payments(("2027-06-30", 10.5))}, "tranches.0.payments.0.amount", "decimal string"),
    "no payments": ({"payments": []}, "tranches.0.payments", "at least 1"),
    "an unknown kind": ({"kind": "bonus"}, "tranches.0.kind", "'fixed' or 'guaranteed'"),
    "a duplicate code": ({"code": "guarantee"}, "tranches.1.code", "duplicate tranche code"),
    "a misspelt key": ({"payments_": []}, "tranches.0.payments_", "did you mean `payments`?"),
    "an unknown key": ({"bonus_scheme": True}, "tranches.0.bonus_scheme", "unknown field `bonus_scheme`"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INVALID))
async def test_bad_tranches_are_refused_naming_the_path(
    contracts: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    overrides, field, words = INVALID[case]
    doc = card(shared_cast, **overrides)
    body = assert_problem(
        await _validate(contracts, shared_cast, doc), 422, "validation-failed", f"body.{field}"
    )
    reasons = [p["reason"] for p in body["invalid_params"] if p["name"] == f"body.{field}"]
    assert any(words in reason for reason in reasons), body


async def test_tranches_count_towards_what_the_contract_can_pay_in_all(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    doc = card(shared_cast, payments=_payments(("2027-06-30", "999999999999999")))
    body = assert_problem(await _validate(contracts, shared_cast, doc), 422, "validation-failed")
    assert any(p["name"] == "body.caps.contract_total" for p in body["invalid_params"]), body
