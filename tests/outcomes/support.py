"""Helpers for the outcome service's HTTP tests: an active contract in the real registry, enrolment with
synthetic CPR numbers, and small request wrappers that assert the status they expect."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from effekt.launcher import Platform
from tests.actors import Actor, Cast
from tests.platform import free_port

TODAY = datetime.now(UTC).date()


def quarter(day: date) -> tuple[date, date]:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end = date(day.year + (first_month == 10), 1 if first_month == 10 else first_month + 3, 1) - timedelta(
        days=1
    )
    return start, end


def synthetic_cpr(index: int, *, born: date | None = None) -> str:
    """A well-formed CPR number (never a real person's: the serial part is random per test run)."""
    born = born or date(1990, 1, 1) + timedelta(days=37 * index)
    serial = secrets.randbelow(4000)  # 7th digit 0-3: born in the 1900s
    return f"{born:%d%m%y}{serial:04d}"


def key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


def check(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json() if response.content else None


def outcome(
    code: str,
    tariff: str,
    *,
    verifiers: list[str] | None = None,
    prerequisites: list[str] | None = None,
    anchor: str | None = None,
    opens: int = 0,
    closes: int = 730,
    max_per_participant: int = 1,
) -> dict[str, Any]:
    return {
        "code": code,
        "name": code.replace("_", " ").capitalize(),
        "description": "",
        "evidence_required": "Employment contract or eIndkomst extract",
        "verifier_roles": verifiers or ["outcome_payer"],
        "tariff": tariff,
        "max_per_participant": max_per_participant,
        "prerequisites": prerequisites or ([anchor] if anchor else []),
        "window": {
            "anchor": "outcome" if anchor else "enrolment",
            "anchor_outcome": anchor,
            "opens_after_days": opens,
            "closes_after_days": closes,
        },
    }


def employment_terms(
    cast: Cast,
    *,
    caps: dict[str, str | None] | None = None,
    outcomes: list[dict[str, Any]] | None = None,
    split: dict[str, Any] | None = None,
    max_participants: int | None = 200,
) -> dict[str, Any]:
    """A refugee-employment contract running from three years ago to two years ahead."""
    return {
        "schema_version": 1,
        "title": f"Flygtninge i job {secrets.token_hex(2)}",
        "start_date": (TODAY - timedelta(days=3 * 365)).isoformat(),
        "end_date": (TODAY + timedelta(days=2 * 365)).isoformat(),
        "currency": "DKK",
        "target_group": "Refugees and family-reunified persons aged 18-64 receiving integration benefit",
        "eligibility_criteria": ["Resident in a paying municipality"],
        "max_participants": max_participants,
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
            {"organisation_id": str(cast.investor.organisation_id), "role": "investor", "must_sign": False},
        ],
        "outcomes": outcomes
        or [
            outcome("job_start", "25000.00", verifiers=["outcome_payer", "evaluator"]),
            outcome("employed_13w", "12345.67", anchor="job_start", opens=91, closes=365),
            outcome("employed_26w", "40000.00", anchor="job_start", opens=182, closes=365),
        ],
        "caps": caps or {"per_participant": "60000.00", "contract_total": "500000.00", "per_period": None},
        "payer_split": split
        or {
            "method": "fixed",
            "shares": [
                {"organisation_id": str(cast.payer_a.organisation_id), "percent": "60"},
                {"organisation_id": str(cast.payer_b.organisation_id), "percent": "40"},
            ],
        },
    }


async def active_contract(
    contracts: httpx.AsyncClient, cast: Cast, terms: dict[str, Any]
) -> tuple[UUID, UUID]:
    """Draft, propose and have every required party sign: the contract id and its active version id."""
    created = check(
        await contracts.post(
            "/v1/contracts",
            json={"partnership_id": str(cast.partnership_id), "terms": terms},
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )
    version_id = created["versions"][0]["id"]
    proposed = check(
        await contracts.post(
            f"/v1/contract-versions/{version_id}/proposal", headers={**cast.provider.headers, **key()}
        ),
        200,
    )
    for signer in (cast.payer_a, cast.payer_b, cast.provider):
        signed = check(
            await contracts.post(
                f"/v1/contract-versions/{version_id}/signatures",
                json={"content_hash": proposed["content_hash"]},
                headers={**signer.headers, **key()},
            ),
            201,
        )
    assert signed["status"] == "active", signed
    return UUID(created["id"]), UUID(version_id)


async def enrol(
    outcomes: httpx.AsyncClient,
    actor: Actor,
    cast: Cast,
    contract_id: UUID,
    cpr: str,
    *,
    municipality_code: str,
    enrolment_date: date,
    status: int = 201,
    **extra: Any,
) -> Any:
    body = {
        "partnership_id": str(cast.partnership_id),
        "contract_id": str(contract_id),
        "cpr": cpr,
        "municipality_code": municipality_code,
        "enrolment_date": enrolment_date.isoformat(),
        **extra,
    }
    return check(
        await outcomes.post("/v1/participants", json=body, headers={**actor.headers, **key()}), status
    )


async def confirm(outcomes: httpx.AsyncClient, payer: Actor, participant_id: str) -> Any:
    return check(
        await outcomes.post(
            f"/v1/participants/{participant_id}/eligibility-confirmation", headers={**payer.headers, **key()}
        ),
        200,
    )


async def claim(
    outcomes: httpx.AsyncClient,
    provider: Actor,
    participant_id: str,
    code: str,
    achieved: date,
    *,
    status: int = 201,
    **extra: Any,
) -> Any:
    body = {
        "participant_id": participant_id,
        "outcome_code": code,
        "achievement_date": achieved.isoformat(),
        "evidence_reference": "eIndkomst extract 2026-11",
        **extra,
    }
    return check(
        await outcomes.post("/v1/outcome-claims", json=body, headers={**provider.headers, **key()}), status
    )


async def decide(
    outcomes: httpx.AsyncClient,
    actor: Actor,
    claim_id: str,
    decision: str,
    *,
    reason: str | None = None,
    path: str = "verification",
    status: int = 200,
) -> Any:
    body: dict[str, Any] = {"decision": decision}
    if reason is not None:
        body["reason"] = reason
    return check(
        await outcomes.post(
            f"/v1/outcome-claims/{claim_id}/{path}", json=body, headers={**actor.headers, **key()}
        ),
        status,
    )


async def ledger_head(outcomes: httpx.AsyncClient, actor: Actor, partnership_id: UUID) -> int:
    """The last sequence number of the partnership's ledger (0 when empty)."""
    after = 0
    while True:
        page = check(
            await outcomes.get(
                f"/v1/partnerships/{partnership_id}/ledger",
                params={"after": after, "limit": 500},
                headers=actor.headers,
            ),
            200,
        )
        if not page["items"]:
            return after
        after = int(page["items"][-1]["sequence"])
        if page["next_cursor"] is None:
            return after


async def whole_ledger(
    outcomes: httpx.AsyncClient, actor: Actor, partnership_id: UUID
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = check(
            await outcomes.get(
                f"/v1/partnerships/{partnership_id}/ledger",
                params={"after": items[-1]["sequence"] if items else 0, "limit": 500},
                headers=actor.headers,
            ),
            200,
        )
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items


@contextmanager
def outcomes_replica(platform: Platform, log_dir: Path, env: Mapping[str, str]) -> Iterator[str]:
    """A second outcomes process on the same database with some settings changed: its base URL."""
    replica = Platform(
        ports={**platform.ports, "outcomes": free_port()},
        env={**platform.env, **env},
        log_dir=log_dir,
        services=tuple(s for s in platform.services if s.name == "outcomes"),
    )
    try:
        replica.start()
        replica.wait_ready(timeout=60)
        yield replica.url("outcomes")
    finally:
        replica.stop()
