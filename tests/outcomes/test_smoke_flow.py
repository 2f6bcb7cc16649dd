"""One participant through enrolment, claim and verification: the happy path over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx

from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from tests.outcomes.support import TODAY, active_contract, claim, confirm, decide, employment_terms, enrol


async def test_a_verified_job_start_is_priced_and_split(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, version_id = await active_contract(contracts, cast, employment_terms(cast))
    participant = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(1),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=100),
    )
    await confirm(outcomes, cast.payer_a, participant["id"])
    claimed = await claim(outcomes, cast.provider, participant["id"], "job_start", TODAY - timedelta(days=50))
    verified = await decide(outcomes, cast.payer_a, claimed["id"], "verified")
    assert verified["status"] == "verified"
    assert verified["payable"] == "25000.00"
    assert verified["priced_contract_version_id"] == str(version_id)
    assert {s["amount"] for s in verified["split"]} == {"15000.00", "10000.00"}
