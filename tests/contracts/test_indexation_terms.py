"""Indexation in terms version 2 through the registry's API: percentage and index steps are accepted and
normalised; every bad step is a 422 naming its JSON path; a misspelt key is told apart from an unknown
one; a document without indexation hashes as it did before it existed."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import httpx
import pytest

from effekt.sandbox.terms import indexation
from tests.actors import Cast
from tests.contracts.rate_cards import employment_rate_card
from tests.contracts.support import assert_problem

FUND = uuid4()


def card(cast: Cast, ix: Any) -> dict[str, Any]:
    return employment_rate_card(cast, FUND) | {"indexation": ix}


async def _validate(contracts: httpx.AsyncClient, cast: Cast, doc: dict[str, Any]) -> httpx.Response:
    return await contracts.post("/v1/terms-validations", json=doc, headers=cast.provider.headers)


async def test_percentage_and_index_steps_are_valid_and_normalised(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    ix = indexation(
        (date(2028, 1, 1), "percent", "3.50"), (date(2029, 1, 1), "index", "112.40"), base_index="100.0"
    )
    response = await _validate(contracts, shared_cast, card(shared_cast, ix))
    assert response.status_code == 200, response.text
    assert response.json()["terms"]["indexation"] == {
        "base_index": "100",
        "steps": [
            {"from": "2028-01-01", "percent": "3.5", "index": None},
            {"from": "2029-01-01", "percent": None, "index": "112.4"},
        ],
    }
    without = (await _validate(contracts, shared_cast, employment_rate_card(shared_cast, FUND))).json()
    assert "indexation" not in without["terms"]
    null = (await _validate(contracts, shared_cast, card(shared_cast, None))).json()
    assert null["content_hash"] == without["content_hash"]


STEP = {"from": "2028-01-01", "percent": "3"}

# case -> (indexation, the invalid_params name, words its reason contains)
INVALID: dict[str, tuple[Any, str, str]] = {
    "both percent and index": ({"base_index": "100", "steps": [STEP | {"index": "103"}]},
                               "indexation.steps.0", "exactly one of `percent` or `index`"),
    "neither": ({"steps": [{"from": "2028-01-01"}]}, "indexation.steps.0", "exactly one"),
    "a step before the contract": ({"steps": [STEP | {"from": "2026-12-31"}]}, "indexation.steps.0.from",
                                   "within the contract"),
    "steps out of order": ({"steps": [STEP, STEP | {"from": "2027-06-01"}]}, "indexation.steps.1.from",
                           "after the step before it"),
    "an index without a base": ({"steps": [{"from": "2028-01-01", "index": "104.2"}]},
                                "indexation.base_index", "needs the `base_index`"),
    "a base without an index": ({"base_index": "100", "steps": [STEP]}, "indexation.base_index",
                                "leave `base_index` out"),
    "a zero percent": ({"steps": [STEP | {"percent": "0"}]}, "indexation.steps.0.percent", "greater than 0"),
    "a percent as a JSON number": ({"steps": [STEP | {"percent": 3.5}]}, "indexation.steps.0.percent",
                                   "decimal string"),
    "no steps": ({"steps": []}, "indexation.steps", "at least 1"),
    "a misspelt key": ({"steps": [STEP | {"precent": "3"}]}, "indexation.steps.0.precent",
                       "did you mean `percent`?"),
    "an unknown key": ({"steps": [STEP], "cpi": "dk"}, "indexation.cpi", "unknown field `cpi`"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INVALID))
async def test_bad_indexation_is_refused_naming_the_path(
    contracts: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    ix, field, words = INVALID[case]
    body = assert_problem(
        await _validate(contracts, shared_cast, card(shared_cast, ix)),
        422,
        "validation-failed",
        f"body.{field}",
    )
    reasons = [p["reason"] for p in body["invalid_params"] if p["name"] == f"body.{field}"]
    assert any(words in reason for reason in reasons), body
