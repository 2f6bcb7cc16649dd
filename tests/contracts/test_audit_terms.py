"""Post-payment audit rules in terms version 2 through the registry's API: a rule is accepted and
normalised; every bad rule is a 422 naming its JSON path; a document without audits hashes as it did
before they existed."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.actors import Cast
from tests.contracts.rate_cards import employment_rate_card
from tests.contracts.support import assert_problem

FUND = uuid4()
STRANGER = str(uuid4())


def card(cast: Cast, **overrides: Any) -> dict[str, Any]:
    """The employment rate card with payer A's audit rule: 10 % sampled, extrapolated by value."""
    doc = employment_rate_card(cast, FUND)
    rule = {
        "payer_organisation_id": str(cast.payer_a.organisation_id),
        "sample_percent": "10.0",
        "extrapolation": "by_value",
        "threshold_percent": "2.50",
        "extrapolation_cap": "50000",
    }
    doc["audits"] = [rule | overrides]
    return doc


async def _validate(contracts: httpx.AsyncClient, cast: Cast, doc: dict[str, Any]) -> httpx.Response:
    return await contracts.post("/v1/terms-validations", json=doc, headers=cast.provider.headers)


async def test_an_audit_rule_is_valid_and_normalised(contracts: httpx.AsyncClient, shared_cast: Cast) -> None:
    response = await _validate(contracts, shared_cast, card(shared_cast))
    assert response.status_code == 200, response.text
    assert response.json()["terms"]["audits"] == [
        {
            "payer_organisation_id": str(shared_cast.payer_a.organisation_id),
            "sample_size": None,
            "sample_percent": "10",
            "extrapolation": "by_value",
            "threshold_percent": "2.5",
            "extrapolation_cap": "50000.00",
        }
    ]


async def test_a_document_without_audits_hashes_as_before(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    without = employment_rate_card(shared_cast, FUND)
    empty = employment_rate_card(shared_cast, FUND) | {"audits": []}
    first = (await _validate(contracts, shared_cast, without)).json()
    second = (await _validate(contracts, shared_cast, empty)).json()
    assert "audits" not in first["terms"]
    assert first["content_hash"] == second["content_hash"]


# case -> (the rule's overrides, the invalid_params name, words its reason contains)
INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "a payer that is not an outcome payer": (
        {"payer_organisation_id": STRANGER}, "audits.0.payer_organisation_id", "outcome_payer"),
    "both a size and a percent": ({"sample_size": 5}, "audits.0", "exactly one of"),
    "neither a size nor a percent": ({"sample_percent": None}, "audits.0", "exactly one of"),
    "a zero sample size": ({"sample_percent": None, "sample_size": 0}, "audits.0.sample_size", "greater"),
    "a percent over 100": ({"sample_percent": "100.5"}, "audits.0.sample_percent", "100"),
    "a percent as a JSON number": ({"sample_percent": 10.5}, "audits.0.sample_percent", "decimal string"),
    "an unknown extrapolation": (
        {"extrapolation": "by_count"}, "audits.0.extrapolation", "'none' or 'by_value'"),
    "a threshold without extrapolation": (
        {"extrapolation": "none", "extrapolation_cap": None}, "audits.0.threshold_percent", "by_value"),
    "a cap without extrapolation": (
        {"extrapolation": "none", "threshold_percent": None}, "audits.0.extrapolation_cap", "by_value"),
    "a zero cap": ({"extrapolation_cap": "0"}, "audits.0.extrapolation_cap", "more than zero"),
    "a cap finer than øre": ({"extrapolation_cap": "10.005"}, "audits.0.extrapolation_cap", "minor unit"),
    "an unknown key": ({"clawback_all": True}, "audits.0.clawback_all", "unknown field `clawback_all`"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INVALID))
async def test_bad_audit_rules_are_refused_naming_the_path(
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


async def test_one_rule_per_payer(contracts: httpx.AsyncClient, shared_cast: Cast) -> None:
    doc = card(shared_cast)
    doc["audits"].append({**doc["audits"][0], "sample_size": 3, "sample_percent": None})
    assert_problem(
        await _validate(contracts, shared_cast, doc),
        422,
        "validation-failed",
        "body.audits.1.payer_organisation_id",
    )
