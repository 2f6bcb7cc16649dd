"""Caps and transitions under concurrency: many simultaneous verifications never pay past a cap by one øre,
and racing the same decision prices a claim once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import httpx

from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import outcome
from services.outcomes.chain import verify_chain
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
    ledger_head,
    whole_ledger,
)

T = TypeVar("T")


async def bounded(jobs: list[Awaitable[T]], limit: int = 8) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(j) for j in jobs)))


async def claims_ready(
    outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, count: int
) -> list[dict[str, Any]]:
    """`count` eligible participants, each with a job-start claim awaiting verification."""

    async def one(n: int) -> dict[str, Any]:
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=60),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        return dict(
            await claim(outcomes, cast.provider, person["id"], "job_start", TODAY - timedelta(days=5))
        )

    return await bounded([one(n) for n in range(count)])


async def test_fifty_concurrent_verifications_pay_exactly_up_to_the_contract_cap(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    terms = employment_terms(
        cast,
        outcomes=[outcome("job_start", "1000.00")],
        caps={"per_participant": None, "contract_total": "8500.50", "per_period": None},
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    first, *racing = await claims_ready(outcomes, cast, contract_id, 51)
    assert (await decide(outcomes, cast.payer_a, first["id"], "verified"))["payable"] == "1000.00"
    # 7 500.50 left: 50 claims of 1 000.00 race for it.
    results = await asyncio.gather(*(decide(outcomes, cast.payer_a, c["id"], "verified") for c in racing))

    payable = [Decimal(r["payable"]) for r in results]
    assert sum(payable) == Decimal("7500.50")
    assert sorted(payable, reverse=True)[:9] == [Decimal("1000.00")] * 7 + [Decimal("500.50"), Decimal(0)]
    for r in results:
        assert Decimal(r["payable"]) + Decimal(r["cut"]) == Decimal("1000.00")
        assert sum(Decimal(s["amount"]) for s in r["split"]) == Decimal(r["payable"])
    aggregates = check(
        await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/outcome-aggregates", headers=cast.provider.headers
        ),
        200,
    )
    [totals] = aggregates["contracts"]
    assert (totals["earned"], totals["remaining_cap"]) == ("8500.50", "0.00")
    events = await whole_ledger(outcomes, cast.investor, cast.partnership_id)
    assert [e["sequence"] for e in events] == list(range(1, 51 * 3 + 51 + 1))  # gapless under the race
    assert verify_chain(events).valid


async def test_racing_the_same_verification_prices_the_claim_once(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    [ready] = await claims_ready(outcomes, cast, contract_id, 1)
    before = await ledger_head(outcomes, cast.investor, cast.partnership_id)
    results = await asyncio.gather(
        *(decide(outcomes, cast.payer_a, ready["id"], "verified") for _ in range(10))
    )
    assert {(r["status"], r["payable"], r["version"]) for r in results} == {("verified", "25000.00", 2)}
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == before + 1
    # A conflicting decision after the fact is refused, not silently applied.
    refused = await outcomes.post(
        f"/v1/outcome-claims/{ready['id']}/verification",
        json={"decision": "rejected", "reason": "Second thoughts"},
        headers={**cast.payer_a.headers, **key()},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid-claim-transition")


async def test_a_retried_request_with_the_same_idempotency_key_replays_the_first_answer(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    body = {
        "partnership_id": str(cast.partnership_id),
        "contract_id": str(contract_id),
        "cpr": synthetic_cpr(3),
        "municipality_code": "657",
        "enrolment_date": (TODAY - timedelta(days=3)).isoformat(),
    }
    headers = {**cast.provider.headers, **key()}
    first = await outcomes.post("/v1/participants", json=body, headers=headers)
    second = await outcomes.post("/v1/participants", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json() == second.json()
    reused = await outcomes.post("/v1/participants", json={**body, "cohort": "x"}, headers=headers)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency-key-reused")
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == 1


async def test_enrolling_one_person_concurrently_admits_exactly_one(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    cpr = synthetic_cpr(5)
    forms = [cpr, f"{cpr[:6]}-{cpr[6:]}"] * 4
    results = await asyncio.gather(
        *(
            outcomes.post(
                "/v1/participants",
                json={
                    "partnership_id": str(cast.partnership_id),
                    "contract_id": str(contract_id),
                    "cpr": form,
                    "municipality_code": "657",
                    "enrolment_date": TODAY.isoformat(),
                },
                headers={**cast.provider.headers, **key()},
            )
            for form in forms
        )
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * 7
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == 1


async def test_racing_claims_for_one_outcome_respect_the_per_participant_maximum(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(6),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=20),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    results = await asyncio.gather(
        *(
            outcomes.post(
                "/v1/outcome-claims",
                json={
                    "participant_id": person["id"],
                    "outcome_code": "job_start",
                    "achievement_date": (TODAY - timedelta(days=d)).isoformat(),
                    "evidence_reference": f"payslip {d}",
                },
                headers={**cast.provider.headers, **key()},
            )
            for d in range(1, 7)
        )
    )
    assert sorted(r.status_code for r in results) == [201] + [422] * 5
    assert {r.json()["code"] for r in results if r.status_code == 422} == {"per-participant-maximum"}
