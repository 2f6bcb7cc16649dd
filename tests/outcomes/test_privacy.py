"""No CPR number is stored or answered anywhere, and each partner sees exactly its rows."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    key,
)


def outcomes_dsn(platform: Platform) -> str:
    url: str = platform.database_urls["outcomes"]  # type: ignore[attr-defined]
    return url.replace("postgresql+asyncpg://", "postgresql://")


def forms_of(cpr: str) -> list[str]:
    """How a stored CPR number could show in a row's text form: plain, hyphenated, or as bytea hex."""
    hyphenated = f"{cpr[:6]}-{cpr[6:]}"
    return [cpr, hyphenated, cpr.encode().hex(), hyphenated.encode().hex()]


async def test_no_table_and_no_response_holds_a_cpr_number(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    cprs = [synthetic_cpr(n) for n in range(8)]
    cprs[1] = f"{cprs[1][:6]}-{cprs[1][6:]}"  # the hyphenated form is accepted too
    answers: list[str] = []
    for n, cpr in enumerate(cprs):
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            cpr,
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=30),
            municipal_reference=f"J.nr. 2026-{n:04d}",
        )
        answers.append(str(person))
        answers.append(str(await confirm(outcomes, cast.payer_a, person["id"])))
    duplicate = await outcomes.post(
        "/v1/participants",
        json={
            "partnership_id": str(cast.partnership_id),
            "contract_id": str(contract_id),
            "cpr": cprs[0],
            "municipality_code": "657",
            "enrolment_date": TODAY.isoformat(),
        },
        headers={**cast.provider.headers, **key()},
    )
    answers.append(duplicate.text)
    invalid = await outcomes.post(
        "/v1/participants",
        json={
            "partnership_id": str(cast.partnership_id),
            "contract_id": str(contract_id),
            "cpr": "3202901234",
            "municipality_code": "657",
            "enrolment_date": TODAY.isoformat(),
        },
        headers={**cast.provider.headers, **key()},
    )
    assert invalid.json()["code"] == "invalid-cpr"
    assert "3202901234" not in invalid.text
    for path in ("/v1/participants", f"/v1/partnerships/{cast.partnership_id}/ledger"):
        answers.append((await outcomes.get(path, headers=cast.payer_a.headers)).text)

    digits = [c.replace("-", "") for c in cprs]
    needles = [form for cpr in digits for form in forms_of(cpr)]
    assert not [n for n in needles if any(n in a for a in answers)]

    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        found: dict[str, int] = {}
        for (table,) in tables:
            hits = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE ANY($1::text[])',  # noqa: S608
                [f"%{n}%" for n in needles],
            )
            if hits:
                found[table] = hits
        assert found == {}
        # Nor the municipal references in clear: only the municipality's reads decrypt them.
        clear = await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys AS t WHERE t::text LIKE '%J.nr. 2026-%'"
        )
        assert clear == 0
        encrypted = await conn.fetchval(
            "SELECT count(*) FROM participants WHERE partnership_id = $1 AND municipal_reference IS NOT NULL",
            cast.partnership_id,
        )
        assert encrypted == 8
        # The pseudonyms are there, and they are not a plain hash of the number.
        stored = {r["pseudonym"] for r in await conn.fetch("SELECT pseudonym FROM participants")}
        assert not stored & {hashlib.sha256(d.encode()).hexdigest() for d in digits}
    finally:
        await conn.close()
    shown = check(await outcomes.get("/v1/participants", headers=cast.payer_a.headers), 200)
    assert sorted(p["municipal_reference"] for p in shown["items"]) == [
        f"J.nr. 2026-{n:04d}" for n in range(8)
    ]
    log = (platform.log_dir / "outcomes.log").read_text(errors="replace")
    assert not [n for n in needles[::4] if n in log]
    assert base64.b64encode(digits[0].encode()).decode() not in log


async def _setup(cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient) -> dict[str, Any]:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    herning = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(1),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=40),
        municipal_reference="HER-42",
    )
    viborg = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(2),
        municipality_code="791",
        enrolment_date=TODAY - timedelta(days=40),
        municipal_reference="VIB-7",
    )
    await confirm(outcomes, cast.payer_a, herning["id"])
    document = base64.b64encode(b"%PDF-1.7 employment contract").decode()
    claimed = await claim(
        outcomes,
        cast.provider,
        herning["id"],
        "job_start",
        TODAY - timedelta(days=3),
        evidence_document_base64=document,
        evidence_media_type="application/pdf",
    )
    return {"contract_id": contract_id, "herning": herning, "viborg": viborg, "claim": claimed}


async def test_each_partner_sees_exactly_its_participants(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    made = await _setup(cast, contracts, outcomes)
    herning, viborg = made["herning"]["id"], made["viborg"]["id"]

    async def visible(actor: Any) -> dict[str, Any]:
        page = check(
            await outcomes.get(
                "/v1/participants", params={"partnership_id": str(cast.partnership_id)}, headers=actor.headers
            ),
            200,
        )
        return {p["id"]: p for p in page["items"]}

    a, b = await visible(cast.payer_a), await visible(cast.payer_b)
    assert set(a) == {herning}
    assert a[herning]["municipal_reference"] == "HER-42"
    assert set(b) == {viborg}
    assert b[viborg]["municipal_reference"] == "VIB-7"
    for actor in (cast.provider, cast.evaluator):
        rows = await visible(actor)
        assert set(rows) == {herning, viborg}
        assert {r["municipal_reference"] for r in rows.values()} == {None}
    for actor in (
        cast.investor,
        cast.adviser,
        cast.observer,
        cast.operator,
        cast.outsider,
        cast.investor_machine,
    ):
        assert await visible(actor) == {}
        assert (await outcomes.get(f"/v1/participants/{herning}", headers=actor.headers)).status_code == 404
        assert (
            await outcomes.get(f"/v1/outcome-claims/{made['claim']['id']}", headers=actor.headers)
        ).status_code == 404
    assert (
        await outcomes.get(f"/v1/participants/{herning}", headers=cast.payer_b.headers)
    ).status_code == 404
    batch = check(
        await outcomes.get(
            "/v1/participants", params={"ids": f"{herning},{viborg}"}, headers=cast.payer_a.headers
        ),
        200,
    )
    assert [p["id"] for p in batch["items"]] == [herning]


async def test_evidence_documents_reach_the_provider_and_payer_but_never_the_evaluator(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    made = await _setup(cast, contracts, outcomes)
    path = f"/v1/outcome-claims/{made['claim']['id']}/evidence-document"
    for actor in (cast.provider, cast.payer_a):
        response = await outcomes.get(path, headers=actor.headers)
        assert response.status_code == 200
        assert response.content == b"%PDF-1.7 employment contract"
        assert hashlib.sha256(response.content).hexdigest() == made["claim"]["evidence_sha256"]
    assert (await outcomes.get(path, headers=cast.evaluator.headers)).status_code == 403
    seen_by_evaluator = check(
        await outcomes.get(f"/v1/outcome-claims/{made['claim']['id']}", headers=cast.evaluator.headers), 200
    )
    assert seen_by_evaluator["has_evidence_document"] is True


async def test_who_may_enrol_verify_and_read_the_ledger(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    made = await _setup(cast, contracts, outcomes)
    for actor, code in (
        (cast.investor, "not-a-partner"),
        (cast.outsider, "not-a-partner"),
        (cast.payer_a, "not-a-partner"),
    ):
        refused = await enrol(
            outcomes,
            actor,
            cast,
            made["contract_id"],
            synthetic_cpr(9),
            municipality_code="791",
            enrolment_date=TODAY,
            status=403,
        )
        assert refused["code"] == code
    claim_id = made["claim"]["id"]
    assert (await decide(outcomes, cast.provider, claim_id, "verified", status=403))[
        "code"
    ] == "own-claim-verification"
    assert (await decide(outcomes, cast.payer_b, claim_id, "verified", status=404))[
        "code"
    ] == "claim-not-found"
    assert (await decide(outcomes, cast.investor, claim_id, "verified", status=404))[
        "code"
    ] == "claim-not-found"
    assert (await decide(outcomes, cast.payer_a, claim_id, "verified"))["status"] == "verified"
    for actor in (cast.investor, cast.observer, cast.operator, cast.investor_machine):
        assert (
            await outcomes.get(f"/v1/partnerships/{cast.partnership_id}/ledger", headers=actor.headers)
        ).status_code == 200
        assert (
            await outcomes.get(
                f"/v1/partnerships/{cast.partnership_id}/outcome-aggregates", headers=actor.headers
            )
        ).status_code == 200
    fresh = check(  # the provider's exact counts (investors read them under the small-cell rule)
        await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/outcome-aggregates", headers=cast.provider.headers
        ),
        200,
    )
    [totals] = fresh["contracts"]
    assert (totals["earned"], totals["contract_cap"], totals["remaining_cap"]) == (
        "25000.00",
        "500000.00",
        "475000.00",
    )
    for path in ("ledger", "ledger/verification", "outcome-aggregates"):
        response = await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/{path}", headers=cast.outsider.headers
        )
        assert (response.status_code, response.json()["code"]) == (403, "not-a-partner")
    assert (await outcomes.get("/v1/participants")).status_code == 401
