"""Bulk verification prices its batch as a set (`verification.decide_many`): the cap counters locked once,
the claims priced in order in memory. Two partnerships with the same terms and the same claims, one verified
one request at a time and one by a bulk file, must end with the same prices, cuts, tiers and splits, claim
for claim, and with the same counters; a refused line in the file fails alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from effekt.launcher import Platform
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import window
from tests.actors import Cast, make_cast
from tests.outcomes.integrations.support import claimed_by_bulk, ndjson, post_bulk
from tests.outcomes.support import TODAY, active_contract, check, decide
from tests.outcomes.test_rate_cards import v2_terms

PEOPLE = 14


def binding_terms(cast: Cast) -> dict[str, Any]:
    """Tiers (the first 3 at 20 000, then 15 000), a count cap of 10, a contract total that cuts the
    claims past 142 500 kr and a per-payer maximum on payer B: every kind of counter binds in 14 claims."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tiers": [{"up_to": 3, "tariff": "20000.00"}, {"up_to": None, "tariff": "15000.00"}],
        "cap": {"count": 10},
    }
    return v2_terms(
        cast,
        outcomes=[job_start],
        caps={
            "per_participant": "60000.00",
            "contract_total": "142500.00",
            "per_payer": [{"organisation_id": str(cast.payer_b.organisation_id), "amount": "50000.00"}],
        },
        split={
            "method": "fixed",
            "shares": [
                {"organisation_id": str(cast.payer_a.organisation_id), "percent": "60"},
                {"organisation_id": str(cast.payer_b.organisation_id), "percent": "40"},
            ],
        },
    )


async def claims_of(contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, cast: Cast) -> list[str]:
    contract_id, _ = await active_contract(contracts, cast, binding_terms(cast))
    enrolled, achieved = TODAY - timedelta(days=60), TODAY - timedelta(days=10)
    return await claimed_by_bulk(
        outcomes,
        cast,
        [
            {
                "external_reference": f"p-{n}",
                "contract_id": str(contract_id),
                "cpr": synthetic_cpr(500 + n),
                "municipality_code": "657",
                "enrolment_date": enrolled.isoformat(),
            }
            for n in range(PEOPLE + 1)
        ],
        achieved=achieved,
    )


def priced(claim: dict[str, Any], cast: Cast) -> tuple[Any, ...]:
    """What pricing decided for a claim, with its payers named by their part, not their ids."""
    names = {str(cast.payer_a.organisation_id): "a", str(cast.payer_b.organisation_id): "b"}
    split = sorted((names[s["payer_organisation_id"]], s["amount"]) for s in claim["split"] or [])
    reasons = [(r["cap"].split(":")[0], r["amount"]) for r in claim["cut_reasons"] or []]
    return (
        claim["status"],
        claim["tariff"],
        claim["payable"],
        claim["cut"],
        reasons,
        claim["tier"],
        claim.get("tier_count"),
        split,
    )


async def test_a_bulk_file_of_verifications_prices_as_one_request_at_a_time_does(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    single, bulk = cast, await make_cast(platform)
    single_claims = await claims_of(contracts, outcomes, single)
    bulk_claims = await claims_of(contracts, outcomes, bulk)

    # One at a time: each request prices under the counters the one before committed.
    for n, claim_id in enumerate(single_claims[:PEOPLE]):
        if n == 5:
            await decide(outcomes, single.payer_a, claim_id, "rejected", reason="no payslip")
        else:
            await decide(outcomes, single.payer_a, claim_id, "verified")

    lines: list[dict[str, Any]] = []
    for n, claim_id in enumerate(bulk_claims[:PEOPLE]):
        line = {"kind": "verification", "external_reference": f"v-{n}", "claim_id": claim_id}
        lines.append(
            line | ({"decision": "rejected", "reason": "no payslip"} if n == 5 else {"decision": "verified"})
        )
        if n == 4:  # refused lines among them fail alone and move no counter
            lines.append(
                {
                    "kind": "verification",
                    "external_reference": "v-none",
                    "claim_id": single_claims[0],
                    "decision": "verified",
                }
            )
            # A second decision on one claim waits for the next set, after the first.
            lines.append(
                {
                    "kind": "verification",
                    "external_reference": "v-noreason",
                    "claim_id": bulk_claims[5],
                    "decision": "rejected",
                }
            )
    results = await post_bulk(outcomes, bulk, ndjson(lines), actor=bulk.payer_a)
    by_reference = {r["external_reference"]: r for r in results}
    assert by_reference["v-none"]["result"] == "error"
    assert by_reference["v-none"]["code"] == "claim-not-found"  # another partnership's claim
    assert by_reference["v-noreason"]["result"] == "error"
    assert "reason" in by_reference["v-noreason"]["reason"]
    assert [by_reference[f"v-{n}"]["result"] for n in range(PEOPLE)] == ["accepted"] * PEOPLE

    async def read(actor_cast: Cast, ids: list[str]) -> list[tuple[Any, ...]]:
        page = check(
            await outcomes.get(
                "/v1/outcome-claims",
                params={"ids": ",".join(ids), "limit": "100"},
                headers=actor_cast.payer_a.headers,
            ),
            200,
        )
        by_id = {c["id"]: c for c in page["items"]}
        return [priced(by_id[i], actor_cast) for i in ids]

    one_at_a_time, as_a_set = (
        await read(single, single_claims[:PEOPLE]),
        await read(bulk, bulk_claims[:PEOPLE]),
    )
    assert as_a_set == one_at_a_time
    # The terms bind as meant, so the comparison covers every counter: tiers, the count cap, the contract
    # total and payer B's maximum.
    payable = [row[2] for row in one_at_a_time]
    assert payable[0] == "20000.00"
    assert payable[3] == "15000.00"
    assert any(row[4] for row in one_at_a_time)
    assert {reason for row in one_at_a_time for reason, _ in row[4]} >= {"outcome_count", "contract_total"}
    assert any(amount for row in one_at_a_time for name, amount in row[7] if name == "b")

    # The counters end alike: one more claim in each, verified alone, prices the same.
    last = [
        await decide(outcomes, c.payer_a, ids[PEOPLE], "verified")
        for c, ids in ((single, single_claims), (bulk, bulk_claims))
    ]
    assert priced(last[0], single) == priced(last[1], bulk)
    for c in (single, bulk):
        chain = await outcomes.get(
            f"/v1/partnerships/{c.partnership_id}/ledger/verification", headers=c.provider.headers
        )
        assert chain.json()["valid"] is True
