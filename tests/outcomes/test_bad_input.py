"""Webhook subscriptions refuse what the database cannot store (U+0000), URLs Python cannot take apart, and
event types that could never match, as a 422 naming the field, and store nothing. Identifiers written with
other scripts' digits are refused, never read as the ASCII number (one person, one participant)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from tests.digits import FAMILIES, written_in
from tests.outcomes.support import TODAY, active_contract, employment_terms, enrol, ledger_head

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "NUL in the url": ({"url": "https://hooks.example/\u0000"}, "body.url"),
    "malformed IPv6 host": ({"url": "https://[::1/hook"}, "body.url"),
    "port out of range": ({"url": "https://hooks.example:99999/hook"}, "body.url"),
    "NUL in the description": ({"description": "ops\u0000"}, "body.description"),
    "NUL in an event type": ({"event_types": ["dk.effekt.claim\u0000"]}, "body.event_types.0"),
    "blank event type": ({"event_types": ["  "]}, "body.event_types.0"),
    "foreign event type": ({"event_types": ["com.example.thing"]}, "body.event_types.0"),
    "oversized event type": ({"event_types": ["dk.effekt." + "x" * 200]}, "body.event_types.0"),
}


async def subscriptions(outcomes: httpx.AsyncClient, cast: Cast) -> list[Any]:
    listed = await outcomes.get("/v1/webhook-subscriptions", headers=cast.investor.headers)
    assert listed.status_code == 200, listed.text
    items: list[Any] = listed.json()["items"]
    return items


@pytest.mark.parametrize("case", list(BAD))
async def test_a_subscription_with_bad_input_is_refused_and_nothing_is_stored(
    outcomes: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    extra, field = BAD[case]
    before = await subscriptions(outcomes, shared_cast)
    body = {"partnership_id": str(shared_cast.partnership_id), "url": "https://hooks.example/effekt", **extra}
    response = await outcomes.post(
        "/v1/webhook-subscriptions",
        json=body,
        headers={**shared_cast.investor.headers, "Idempotency-Key": uuid4().hex},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [p["name"] for p in response.json()["invalid_params"]], response.text
    assert await subscriptions(outcomes, shared_cast) == before


@pytest.mark.parametrize("case", ["NUL in the url", "port out of range", "blank event type"])
async def test_an_update_with_bad_input_is_refused_and_the_subscription_is_unchanged(
    outcomes: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    created = await outcomes.post(
        "/v1/webhook-subscriptions",
        json={"partnership_id": str(shared_cast.partnership_id), "url": "https://hooks.example/effekt"},
        headers={**shared_cast.investor.headers, "Idempotency-Key": uuid4().hex},
    )
    assert created.status_code == 201, created.text
    url = f"/v1/webhook-subscriptions/{created.json()['id']}"
    before = (await outcomes.get(url, headers=shared_cast.investor.headers)).json()
    extra, field = BAD[case]
    response = await outcomes.patch(
        url, json=extra, headers={**shared_cast.investor.headers, "If-Match": '"1"'}
    )
    assert response.status_code == 422, response.text
    assert field in [p["name"] for p in response.json()["invalid_params"]], response.text
    assert (await outcomes.get(url, headers=shared_cast.investor.headers)).json() == before


@pytest.mark.parametrize("status", ["verified\u0000", "approved"])
async def test_listing_claims_by_a_status_that_does_not_exist_is_refused(
    outcomes: httpx.AsyncClient, shared_cast: Cast, status: str
) -> None:
    response = await outcomes.get(
        "/v1/outcome-claims",
        params={"partnership_id": str(shared_cast.partnership_id), "status": status},
        headers=shared_cast.provider.headers,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "query.status" in [p["name"] for p in response.json()["invalid_params"]]


async def test_reading_the_ledger_after_a_sequence_beyond_bigint_is_refused(
    outcomes: httpx.AsyncClient, shared_cast: Cast
) -> None:
    response = await outcomes.get(
        f"/v1/partnerships/{shared_cast.partnership_id}/ledger",
        params={"after": str(2**63)},
        headers=shared_cast.investor.headers,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "query.after" in [p["name"] for p in response.json()["invalid_params"]]


async def participants(outcomes: httpx.AsyncClient, cast: Cast) -> list[Any]:
    listed = await outcomes.get(
        "/v1/participants",
        params={"partnership_id": str(cast.partnership_id), "limit": 500},
        headers=cast.provider.headers,
    )
    assert listed.status_code == 200, listed.text
    items: list[Any] = listed.json()["items"]
    return items


async def test_the_same_cpr_number_in_other_digits_never_enrols_a_second_participant(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    cpr = synthetic_cpr(21)
    enrolled = TODAY - timedelta(days=10)
    first = await enrol(
        outcomes, cast.provider, cast, contract_id, cpr, municipality_code="657", enrolment_date=enrolled
    )
    before = await ledger_head(outcomes, cast.investor, cast.partnership_id)
    for family in FAMILIES:
        for form in (written_in(family, cpr), f"{written_in(family, cpr[:6])}-{cpr[6:]}"):
            refused = await enrol(
                outcomes,
                cast.provider,
                cast,
                contract_id,
                form,
                municipality_code="657",
                enrolment_date=enrolled,
                status=422,
            )
            assert refused["code"] == "invalid-cpr", (family, refused)
            assert refused["invalid_params"][0]["name"] == "body.cpr"
            assert form not in str(refused)  # the number is never echoed
    assert [p["pseudonym"] for p in await participants(outcomes, cast)] == [first["pseudonym"]]
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == before


async def test_a_municipality_code_in_other_digits_is_refused(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    before = await ledger_head(outcomes, cast.investor, cast.partnership_id)
    for n, family in enumerate(FAMILIES):
        refused = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(30 + n),
            municipality_code=written_in(family, "657"),
            enrolment_date=TODAY - timedelta(days=10),
            status=422,
        )
        assert "body.municipality_code" in [p["name"] for p in refused["invalid_params"]], (family, refused)
    assert await participants(outcomes, cast) == []
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == before


@pytest.mark.parametrize("family", FAMILIES)
async def test_versions_and_cursors_in_other_digits_are_refused_not_a_500(
    outcomes: httpx.AsyncClient, shared_cast: Cast, family: str
) -> None:
    created = await outcomes.post(
        "/v1/webhook-subscriptions",
        json={"partnership_id": str(shared_cast.partnership_id), "url": "https://hooks.example/effekt"},
        headers={**shared_cast.investor.headers, "Idempotency-Key": uuid4().hex},
    )
    assert created.status_code == 201, created.text
    url = f"/v1/webhook-subscriptions/{created.json()['id']}"
    before = (await outcomes.get(url, headers=shared_cast.investor.headers)).json()
    if family == "superscript":  # a header is latin-1: of these only "¹²³" can arrive as themselves
        stale = await outcomes.patch(
            url,
            json={"status": "disabled"},
            headers={
                **{k.encode(): v.encode() for k, v in shared_cast.investor.headers.items()},
                b"If-Match": '"¹"'.encode("latin-1"),
            },
        )
        assert stale.status_code == 400, stale.text
        assert (await outcomes.get(url, headers=shared_cast.investor.headers)).json() == before
    page = await outcomes.get(
        f"{url}/deliveries", params={"cursor": written_in(family, "12")}, headers=shared_cast.investor.headers
    )
    assert page.status_code == 400, page.text
    assert "query.cursor" in [p["name"] for p in page.json()["invalid_params"]] or "cursor" in [
        p["name"] for p in page.json()["invalid_params"]
    ]
