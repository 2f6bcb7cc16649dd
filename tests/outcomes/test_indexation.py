"""Indexation through the public API: each claim is priced at the factor in force on its achievement
date (a percentage rise, then an index value), rounded half up to the øre once; the statement's total is
the sum computed by hand."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import httpx

from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import indexation, v2_terms, window
from tests.actors import Cast
from tests.outcomes.integrations.published import catalogue, catalogued_types, payload_validator
from tests.outcomes.support import TODAY, active_contract, check, claim, confirm, decide, enrol, key, quarter

D = Decimal


async def test_claims_are_priced_at_the_index_of_their_achievement_date(
    shared_cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    cast = shared_cast
    this = quarter(TODAY)
    rise, rebase = this[0] - timedelta(days=120), this[0]
    outcomes_ = [
        {"code": "job_start", "name": "Job start", "verifier_roles": ["outcome_payer"], "window": window(),
         "tariff": "25000.00"},
        {"code": "check_in", "name": "Check-in", "verifier_roles": ["outcome_payer"], "window": window(),
         "tariff": "333.33"},
    ]  # fmt: skip
    terms = v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=outcomes_,
        caps={"contract_total": "1000000.00"},
        split={
            "method": "fixed",
            "shares": [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}],
        },
        indexation=indexation((rise, "percent", "3.5"), (rebase, "index", "110.0"), base_index="100"),
    )
    contract_id, _ = await active_contract(contracts, cast, terms)

    async def priced(n: int, code: str, achieved: date) -> str:
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(7400 + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=300),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        made = await claim(outcomes, cast.provider, person["id"], code, achieved)
        decided = await decide(outcomes, cast.payer_a, made["id"], "verified")
        claims[decided["id"]] = achieved
        return str(decided["payable"])

    claims: dict[str, date] = {}

    # By hand: before the rise, the contracted 25 000.00; from it, 25 000.00 x 1.035 = 25 875.00; from the
    # rebase, 25 000.00 x 110/100 = 27 500.00; a check-in from the rise, 333.33 x 1.035 = 344.99655, half
    # up to 345.00. The statement: 25 000.00 + 25 875.00 + 27 500.00 + 345.00 = 78 720.00.
    assert await priced(0, "job_start", rise - timedelta(days=5)) == "25000.00"
    assert await priced(1, "job_start", rise + timedelta(days=5)) == "25875.00"
    assert await priced(2, "job_start", TODAY) == "27500.00"
    assert await priced(3, "check_in", rise + timedelta(days=5)) == "345.00"
    statement = check(
        await outcomes.post(
            "/v1/payment-statements",
            json={
                "contract_id": str(contract_id),
                "payer_organisation_id": str(cast.payer_a.organisation_id),
                "period_start": this[0].isoformat(),
                "period_end": this[1].isoformat(),
            },
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )
    assert statement["total"] == "78720.00"
    assert statement["total"] == str(sum((D(x["amount"]) for x in statement["lines"]), D(0)))

    # Each claim's `claim.verified` carries the factor its prices were at, exactly, as the catalogue says.
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={
                "partnership": str(cast.partnership_id),
                "limit": 1000,
                "type": "dk.effekt.claim.verified",
            },
            headers=cast.payer_a.headers,
        ),
        200,
    )
    verified = [
        e for e in feed if e["type"] == "dk.effekt.claim.verified" and e["data"]["claim_id"] in claims
    ]
    factors = {e["data"]["claim_id"]: e["data"]["index_factor"] for e in verified}
    assert sorted(factors.values()) == ["1", "1.035", "1.035", "1.1"]
    document = catalogue()
    validator = payload_validator(document, catalogued_types(document)["dk.effekt.claim.verified"])
    assert all(not list(validator.iter_errors(e)) for e in verified)
