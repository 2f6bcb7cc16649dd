"""Helpers for the contract registry's HTTP tests: a terms document for a cast, and the lifecycle steps."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import rfc8785

from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.terms import caps, outcome, standard_terms


def terms_for(cast: Cast, **overrides: Any) -> dict[str, Any]:
    """The standard terms (`effekt.sandbox.terms`) with fixed dates, two outcomes and all four signing."""
    registry_terms: dict[str, Any] = {
        "title": "Flygtninge i job - Herning og Viborg",
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "target_group": "Refugees and family-reunified persons aged 18-64",
        "outcomes": [
            outcome(
                "job_start",
                "25000.00",
                description="Ordinary employment of at least 15 hours a week",
                evidence="Employment contract",
                verifiers=("outcome_payer", "evaluator"),
            ),
            outcome(
                "employed_26w",
                "40000.00",
                name="Still employed after 26 weeks",
                evidence="eIndkomst extract",
                anchor="job_start",
                opens=182,
                closes=365,
            ),
        ],
        "caps": caps("65000.00", "5000000.00"),
    }
    return standard_terms(cast.parties, investor_signs=True, **(registry_terms | overrides))


def canonical_hash(document: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def signers(cast: Cast) -> list[Actor]:
    return [cast.payer_a, cast.payer_b, cast.provider, cast.investor]


async def create_contract(
    client: httpx.AsyncClient, cast: Cast, by: Actor | None = None, **overrides: Any
) -> dict[str, Any]:
    """A new contract; returns its first (draft) version."""
    actor = by or cast.payer_a
    response = await client.post(
        "/v1/contracts",
        json={"partnership_id": str(cast.partnership_id), "terms": terms_for(cast, **overrides)},
        headers=actor.headers | key(),
    )
    assert response.status_code == 201, response.text
    version_id = response.json()["versions"][0]["id"]
    return await read_version(client, actor, version_id)


async def read_version(client: httpx.AsyncClient, actor: Actor, version_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/contract-versions/{version_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["etag"] = response.headers["etag"]
    return body


async def propose(client: httpx.AsyncClient, actor: Actor, version_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/contract-versions/{version_id}/proposal", headers=actor.headers | key()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign(client: httpx.AsyncClient, actor: Actor, version_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/contract-versions/{version_id}/signatures", headers=actor.headers | key()
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def activate(client: httpx.AsyncClient, cast: Cast, **overrides: Any) -> dict[str, Any]:
    """A contract taken through proposal and every signature: returns the active version."""
    draft = await create_contract(client, cast, **overrides)
    await propose(client, cast.payer_a, draft["id"])
    version: dict[str, Any] = {}
    for actor in signers(cast):
        version = await sign(client, actor, draft["id"])
    assert version["status"] == "active", version
    return version


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body  # an extension must never replace the standard member
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        names = [p["name"] for p in body.get("invalid_params") or []]
        assert field in names, body
    return body
