"""Helpers for the outcome service's HTTP tests: an active contract in the real registry, enrolment, and
small request wrappers that assert the status they expect (synthetic CPR numbers and the standard terms
come from `effekt.sandbox`)."""

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
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.platform import free_port
from effekt.sandbox.terms import standard_terms
from tests import privacy_scan

TODAY = datetime.now(UTC).date()


def quarter(day: date) -> tuple[date, date]:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end = date(day.year + (first_month == 10), 1 if first_month == 10 else first_month + 3, 1) - timedelta(
        days=1
    )
    return start, end


def key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


def check(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json() if response.content else None


def employment_terms(cast: Cast, **overrides: Any) -> dict[str, Any]:
    """The standard terms (`effekt.sandbox.terms`) for the cast, dated around TODAY."""
    return standard_terms(cast.parties, today=TODAY, **overrides)


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
    privacy_scan.SESSION.log_dirs.add(log_dir)
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


async def amend_contract(
    contracts: httpx.AsyncClient, cast: Cast, contract_id: UUID, terms: dict[str, Any]
) -> UUID:
    """Draft, propose and have every required party sign an amendment: the new active version's id."""
    draft = check(
        await contracts.post(
            f"/v1/contracts/{contract_id}/amendments",
            json={"terms": terms},
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )
    proposed = check(
        await contracts.post(
            f"/v1/contract-versions/{draft['id']}/proposal", headers={**cast.provider.headers, **key()}
        ),
        200,
    )
    for signer in (cast.payer_a, cast.payer_b, cast.provider):
        signed = check(
            await contracts.post(
                f"/v1/contract-versions/{draft['id']}/signatures",
                json={"content_hash": proposed["content_hash"]},
                headers={**signer.headers, **key()},
            ),
            201,
        )
    assert signed["status"] == "active", signed
    return UUID(draft["id"])


def month(day: date, shift: int = 0) -> tuple[date, date]:
    """The calendar month `shift` months from `day`'s, as (first day, last day)."""
    n = day.year * 12 + day.month - 1 + shift
    first = date(n // 12, n % 12 + 1, 1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
