"""Helpers for the contract registry's HTTP tests: a terms document for a cast, and the lifecycle steps."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import rfc8785

from tests.actors import Actor, Cast


def terms_for(cast: Cast, **overrides: Any) -> dict[str, Any]:
    """Two municipalities paying 60/40, a provider and an investor; all four sign."""
    doc: dict[str, Any] = {
        "schema_version": 1,
        "title": "Flygtninge i job - Herning og Viborg",
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "currency": "DKK",
        "target_group": "Refugees and family-reunified persons aged 18-64",
        "eligibility_criteria": ["Resident in a paying municipality"],
        "max_participants": 200,
        "payment_period": "quarterly",
        "payment_terms_days": 30,
        "parties": [
            {
                "organisation_id": str(cast.payer_a.organisation_id),
                "role": "outcome_payer",
                "must_sign": True,
            },
            {
                "organisation_id": str(cast.payer_b.organisation_id),
                "role": "outcome_payer",
                "must_sign": True,
            },
            {"organisation_id": str(cast.provider.organisation_id), "role": "provider", "must_sign": True},
            {"organisation_id": str(cast.investor.organisation_id), "role": "investor", "must_sign": True},
        ],
        "outcomes": [
            {
                "code": "job_start",
                "name": "Job start",
                "description": "Ordinary employment of at least 15 hours a week",
                "evidence_required": "Employment contract",
                "verifier_roles": ["outcome_payer", "evaluator"],
                "tariff": "25000.00",
                "max_per_participant": 1,
                "prerequisites": [],
                "window": {
                    "anchor": "enrolment",
                    "anchor_outcome": None,
                    "opens_after_days": 0,
                    "closes_after_days": 730,
                },
            },
            {
                "code": "employed_26w",
                "name": "Still employed after 26 weeks",
                "description": "",
                "evidence_required": "eIndkomst extract",
                "verifier_roles": ["outcome_payer"],
                "tariff": "40000.00",
                "max_per_participant": 1,
                "prerequisites": ["job_start"],
                "window": {
                    "anchor": "outcome",
                    "anchor_outcome": "job_start",
                    "opens_after_days": 182,
                    "closes_after_days": 365,
                },
            },
        ],
        "caps": {"per_participant": "65000.00", "contract_total": "5000000.00", "per_period": None},
        "payer_split": {
            "method": "fixed",
            "shares": [
                {"organisation_id": str(cast.payer_a.organisation_id), "percent": "60"},
                {"organisation_id": str(cast.payer_b.organisation_id), "percent": "40"},
            ],
        },
    }
    doc.update(overrides)
    return doc


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
