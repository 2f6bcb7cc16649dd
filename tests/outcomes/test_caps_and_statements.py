"""The per-period cap, the residence split, and statements that stay frozen once issued."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import outcome
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
    quarter,
)
from tests.outcomes.test_privacy import outcomes_dsn


async def _verified(
    outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, n: int, code: str, payer: Any
) -> dict[str, Any]:
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(n),
        municipality_code=code,
        enrolment_date=TODAY - timedelta(days=30),
    )
    await confirm(outcomes, payer, person["id"])
    made = await claim(outcomes, cast.provider, person["id"], "job_start", TODAY - timedelta(days=1))
    return dict(await decide(outcomes, payer, made["id"], "verified"))


async def test_the_per_period_cap_cuts_within_the_payment_period(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    terms = employment_terms(
        cast,
        outcomes=[outcome("job_start", "25000.00")],
        caps={"per_participant": None, "contract_total": None, "per_period": "30000.00"},
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    first = await _verified(outcomes, cast, contract_id, 1, "657", cast.payer_a)
    second = await _verified(outcomes, cast, contract_id, 2, "657", cast.payer_a)
    start = quarter(TODAY)[0]
    assert (first["payable"], first["payment_period"]) == (
        "25000.00",
        f"{start.year}-Q{(start.month + 2) // 3}",
    )
    assert (second["payable"], second["cut_reasons"]) == (
        "5000.00",
        [{"cap": "per_period", "amount": "20000.00"}],
    )


async def test_a_residence_split_charges_the_home_municipality_only(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    split = {
        "method": "residence",
        "municipalities": [
            {"organisation_id": str(cast.payer_a.organisation_id), "municipality_code": "657"},
            {"organisation_id": str(cast.payer_b.organisation_id), "municipality_code": "791"},
        ],
    }
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast, payer_split=split))
    herning = await _verified(outcomes, cast, contract_id, 1, "657", cast.payer_a)
    viborg = await _verified(outcomes, cast, contract_id, 2, "791", cast.payer_b)
    assert [(s["payer_organisation_id"], s["amount"]) for s in herning["split"]] == [
        (str(cast.payer_a.organisation_id), "25000.00")
    ]
    assert [(s["payer_organisation_id"], s["amount"]) for s in viborg["split"]] == [
        (str(cast.payer_b.organisation_id), "25000.00")
    ]
    elsewhere = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(3),
        municipality_code="101",
        enrolment_date=TODAY,
        status=422,
    )
    assert elsewhere["code"] == "municipality-not-paying"


async def test_an_issued_statement_is_frozen_in_the_database_and_drafts_refresh(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    await _verified(outcomes, cast, contract_id, 1, "657", cast.payer_a)
    start, end = quarter(TODAY)
    body = {
        "contract_id": str(contract_id),
        "payer_organisation_id": str(cast.payer_b.organisation_id),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }
    draft = check(
        await outcomes.post("/v1/payment-statements", json=body, headers={**cast.payer_b.headers, **key()}),
        201,
    )
    assert (draft["status"], draft["total"], len(draft["lines"])) == ("draft", "10000.00", 1)
    await _verified(outcomes, cast, contract_id, 2, "657", cast.payer_a)
    refreshed = check(
        await outcomes.post("/v1/payment-statements", json=body, headers={**cast.provider.headers, **key()}),
        201,
    )
    assert (refreshed["id"], refreshed["total"], len(refreshed["lines"])) == (draft["id"], "20000.00", 2)
    listed = check(
        await outcomes.get(
            f"/v1/payment-statements?contract_id={contract_id}", headers=cast.provider.headers
        ),
        200,
    )
    assert [(s["id"], s["lines"]) for s in listed["items"]] == [(draft["id"], refreshed["lines"])]
    totals = check(
        await outcomes.get(
            f"/v1/payment-statements?contract_id={contract_id}&lines=false", headers=cast.provider.headers
        ),
        200,
    )
    assert [(s["id"], s["total"], s["lines"]) for s in totals["items"]] == [(draft["id"], "20000.00", None)]
    early = await outcomes.post(
        f"/v1/payment-statements/{draft['id']}/payment", headers={**cast.payer_b.headers, **key()}
    )
    assert (early.status_code, early.json()["code"]) == (409, "statement-not-issued")
    issued = check(
        await outcomes.post(
            f"/v1/payment-statements/{draft['id']}/issue", headers={**cast.provider.headers, **key()}
        ),
        200,
    )
    again = await outcomes.post(
        "/v1/payment-statements", json=body, headers={**cast.provider.headers, **key()}
    )
    assert (again.status_code, again.json()["code"]) == (409, "statement-not-draft")
    # The payer of the other municipality sees only its own statements; investors see them all.
    assert (
        check(await outcomes.get("/v1/payment-statements", headers=cast.payer_a.headers), 200)["items"] == []
    )
    assert [
        s["id"]
        for s in check(await outcomes.get("/v1/payment-statements", headers=cast.investor.headers), 200)[
            "items"
        ]
    ] == [draft["id"]]

    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        for sql in (
            "UPDATE payment_lines SET amount = 0 WHERE statement_id = $1",
            "DELETE FROM payment_lines WHERE statement_id = $1",
            "UPDATE payment_statements SET total = 1 WHERE id = $1",
            "DELETE FROM payment_statements WHERE id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql, UUID(draft["id"]))
    finally:
        await conn.close()
    paid = check(
        await outcomes.post(
            f"/v1/payment-statements/{draft['id']}/payment", headers={**cast.payer_b.headers, **key()}
        ),
        200,
    )
    assert (paid["status"], paid["content_hash"], paid["total"]) == (
        "paid",
        issued["content_hash"],
        "20000.00",
    )
