"""The ledger export: NDJSON that verifies offline with chain.py and holds no participant pseudonym."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from services.outcomes.chain import verify_chain
from tests.outcomes.integrations.support import ledger_engine, write_events
from tests.outcomes.support import TODAY, active_contract, confirm, employment_terms, enrol
from tests.outcomes.test_privacy import outcomes_dsn


async def test_an_investor_export_verifies_offline_and_holds_no_pseudonym(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(1),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=10),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    async with ledger_engine(platform) as engine:
        await write_events(engine, cast.partnership_id, 1200)
    connection = await asyncpg.connect(outcomes_dsn(platform))
    try:
        pseudonym = await connection.fetchval(
            "SELECT pseudonym FROM participants WHERE id = $1", person["id"]
        )
    finally:
        await connection.close()

    response = await outcomes.get(
        f"/v1/partnerships/{cast.partnership_id}/ledger/export", headers=cast.investor_machine.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert pseudonym not in response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 1202
    report = verify_chain(lines)
    assert report.valid, report
    assert report.last_sequence == int(response.headers["Ledger-Last-Sequence"])
    assert report.last_hash == response.headers["Ledger-Last-Hash"]
    lines[5]["event"]["data"]["n"] = 999  # an edited archive is caught offline
    assert verify_chain(lines).broken_at == 6


async def test_outsiders_cannot_export(cast: Cast, outcomes: httpx.AsyncClient) -> None:
    response = await outcomes.get(
        f"/v1/partnerships/{cast.partnership_id}/ledger/export", headers=cast.outsider.headers
    )
    assert response.status_code == 403
