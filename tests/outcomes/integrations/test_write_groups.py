"""Group commit of verifications, eligibility confirmations and enrolments (services/outcomes/groups.py),
as tests/outcomes/integrations/test_claim_groups.py proves it for claims: on a platform whose groups
collect for 50 ms, so that concurrent requests do share a transaction (the ledger shows it: one
transaction's events share their time), tiers and every cap price exactly under 50-way concurrent
verifications, the contract's participant maximum holds under 50-way concurrent enrolments, a refused item
(its own stale `If-Match` among them) fails alone, Idempotency-Keys replay within and across groups, and
the chain verifies offline after each concurrent run."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Actor, Cast, make_cast
from tests.outcomes.integrations.support import ndjson, post_bulk
from tests.outcomes.integrations.test_bulk_decisions import binding_terms, priced
from tests.outcomes.integrations.test_claim_groups import assert_chain_verifies
from tests.outcomes.support import TODAY, active_contract, check, decide, employment_terms, whole_ledger

ENROLLED, ACHIEVED = TODAY - timedelta(days=60), TODAY - timedelta(days=10)


@pytest.fixture
async def http(grouped: Platform) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with (
        new_client(base_url=grouped.url("contracts"), timeout=60) as contracts,
        new_client(base_url=grouped.url("outcomes"), timeout=60) as outcomes,
    ):
        yield {"contracts": contracts, "outcomes": outcomes}


def shared_commits(ledger: list[dict[str, Any]], event_type: str) -> int:
    """How many events of the type were written in a transaction with another one (same time, same commit)."""
    times = Counter(e["event"]["time"] for e in ledger if e["event"]["type"] == f"dk.effekt.{event_type}")
    return sum(n for n in times.values() if n > 1)


async def claims_under(
    http: dict[str, httpx.AsyncClient], cast: Cast, terms: dict[str, Any], count: int, start: int
) -> list[str]:
    """`count` claims of `job_start`, one per enrolled and eligible participant, made by a bulk file."""
    outcomes = http["outcomes"]
    contract_id, _ = await active_contract(http["contracts"], cast, terms)
    people = await post_bulk(
        outcomes,
        cast,
        ndjson(
            [
                {
                    "kind": "enrolment",
                    "external_reference": f"p-{n}",
                    "contract_id": str(contract_id),
                    "cpr": synthetic_cpr(start + n),
                    "municipality_code": "657",
                    "enrolment_date": ENROLLED.isoformat(),
                }
                for n in range(count)
            ]
        ),
    )
    ids = [r["id"] for r in people]
    lines = [
        {"kind": "eligibility", "external_reference": f"e-{n}", "participant_id": p}
        for n, p in enumerate(ids)
    ]
    confirmed = await post_bulk(outcomes, cast, ndjson(lines), actor=cast.payer_a)
    assert {r["result"] for r in confirmed} == {"accepted"}
    claimed = await post_bulk(
        outcomes,
        cast,
        ndjson(
            [
                {
                    "kind": "claim",
                    "external_reference": f"c-{n}",
                    "participant_id": p,
                    "outcome_code": "job_start",
                    "achievement_date": ACHIEVED.isoformat(),
                    "evidence_reference": f"eIndkomst {n}",
                }
                for n, p in enumerate(ids)
            ]
        ),
    )
    assert {r["result"] for r in claimed} == {"accepted"}
    return [r["id"] for r in claimed]


async def post_decision(
    outcomes: httpx.AsyncClient,
    actor: Actor,
    claim_id: str,
    body: dict[str, Any],
    *,
    key: str | None = None,
    if_match: str | None = None,
) -> httpx.Response:
    headers = {**actor.headers, "Content-Type": "application/json", "Idempotency-Key": key or uuid4().hex}
    if if_match is not None:
        headers["If-Match"] = if_match
    return await outcomes.post(
        f"/v1/outcome-claims/{claim_id}/verification", content=json.dumps(body).encode(), headers=headers
    )


VERIFIED = {"decision": "verified"}


async def read_claims(outcomes: httpx.AsyncClient, actor: Actor, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for n in range(0, len(ids), 100):
        page = check(
            await outcomes.get(
                "/v1/outcome-claims",
                params={"ids": ",".join(ids[n : n + 100]), "limit": "100"},
                headers=actor.headers,
            ),
            200,
        )
        found |= {c["id"]: c for c in page["items"]}
    return found


# --- verifications ----------------------------------------------------------------------------------------


async def test_tiers_and_caps_price_exactly_under_50_way_concurrent_verifications(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    outcomes = http["outcomes"]
    grouped_cast, single = await make_cast(grouped), await make_cast(grouped)
    concurrent = await claims_under(http, grouped_cast, binding_terms(grouped_cast), 50, 1000)
    one_at_a_time = await claims_under(http, single, binding_terms(single), 50, 1100)

    responses = await asyncio.gather(
        *(post_decision(outcomes, grouped_cast.payer_a, c, VERIFIED) for c in concurrent)
    )
    assert [r.status_code for r in responses] == [200] * 50, [
        r.text for r in responses if r.status_code != 200
    ]
    for claim_id in one_at_a_time:
        await decide(outcomes, single.payer_a, claim_id, "verified")

    # The claims are alike, so a claim's price is fixed by how many were priced before it, which the
    # ledger's order of verifications shows (each group prices in its order and is chained so): the n-th
    # verified is priced as the n-th one request at a time.
    async def in_ledger_order(cast: Cast, ids: list[str]) -> list[tuple[Any, ...]]:
        ledger = await assert_chain_verifies(outcomes, cast)
        order = [
            e["event"]["data"]["claim_id"] for e in ledger if e["event"]["type"] == "dk.effekt.claim.verified"
        ]
        assert sorted(order) == sorted(ids)
        found = await read_claims(outcomes, cast.payer_a, ids)
        return [priced(found[claim_id], cast) for claim_id in order]

    as_grouped = await in_ledger_order(grouped_cast, concurrent)
    assert as_grouped == await in_ledger_order(single, one_at_a_time)
    # Every kind of counter bound: tiers, the count cap, the contract total and payer B's maximum.
    payable = [Decimal(row[2]) for row in as_grouped]
    assert payable[0] == Decimal("20000.00")
    assert payable[3] == Decimal("15000.00")
    assert sum(payable) <= Decimal("142500.00")
    assert payable[10:] == [Decimal(0)] * 40
    assert {reason for row in as_grouped for reason, _ in row[4]} >= {"outcome_count", "contract_total"}
    paid_b = sum(Decimal(amount) for row in as_grouped for name, amount in row[7] if name == "b")
    assert Decimal(0) < paid_b <= Decimal("50000.00")
    answered = {r.json()["id"]: r.json() for r in responses}  # each answer is its own claim, as priced
    assert {claim_id: priced(c, grouped_cast) for claim_id, c in answered.items()} == {
        claim_id: priced(c, grouped_cast)
        for claim_id, c in (await read_claims(outcomes, grouped_cast.payer_a, concurrent)).items()
    }
    ledger = await whole_ledger(outcomes, grouped_cast.provider, grouped_cast.partnership_id)
    assert shared_commits(ledger, "claim.verified") >= 2  # the verifications did share transactions


async def test_a_refused_verification_in_a_group_fails_alone(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    outcomes = http["outcomes"]
    cast = await make_cast(grouped)
    claims = await claims_under(http, cast, employment_terms(cast), 8, 1200)
    payer = cast.payer_a
    requests = [post_decision(outcomes, payer, c, VERIFIED) for c in claims[:4]]
    requests += [
        post_decision(outcomes, payer, claims[4], VERIFIED, if_match='"7"'),  # a stale ETag: its own 412
        post_decision(outcomes, payer, claims[5], VERIFIED, if_match='"1"'),  # the one it read: decided
        post_decision(outcomes, payer, str(uuid4()), VERIFIED),  # no such claim
        post_decision(outcomes, payer, claims[6], {"decision": "rejected"}),  # a rejection needs a reason
        post_decision(outcomes, cast.provider, claims[7], VERIFIED),  # the claimant may not decide
        post_decision(outcomes, payer, claims[0], VERIFIED),  # the same decision again: it replays
    ]
    responses = await asyncio.gather(*requests)
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 200, 412, 200, 404, 422, 403, 200], [r.text for r in responses]
    assert responses[4].json()["code"] == "version-mismatch"
    assert responses[5].headers["etag"] == '"2"'
    assert responses[9].json()["id"] == claims[0]
    assert responses[9].json()["status"] == "verified"
    found = await read_claims(outcomes, payer, claims)
    assert [found[c]["status"] for c in claims] == ["verified"] * 4 + ["claimed", "verified"] + [
        "claimed"
    ] * 2
    ledger = await assert_chain_verifies(outcomes, cast)
    assert sum(e["event"]["type"] == "dk.effekt.claim.verified" for e in ledger) == 5
    assert shared_commits(ledger, "claim.verified") >= 2


async def test_verification_idempotency_keys_replay_within_and_across_groups(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    outcomes = http["outcomes"]
    cast = await make_cast(grouped)
    claims = await claims_under(http, cast, employment_terms(cast), 4, 1300)
    payer = cast.payer_a

    # Across groups: the stored answer, whole.
    key = uuid4().hex
    first = await post_decision(outcomes, payer, claims[0], VERIFIED, key=key)
    again = await post_decision(outcomes, payer, claims[0], VERIFIED, key=key)
    assert first.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert (await post_decision(outcomes, payer, claims[1], VERIFIED, key=key)).status_code == 422  # reused

    # Within one group's window: the second with the key is in flight (409) or, written after the first,
    # replays it; either way the claim is decided once.
    key = uuid4().hex
    racing = await asyncio.gather(
        *(post_decision(outcomes, payer, claims[1], VERIFIED, key=key) for _ in range(3))
    )
    assert {r.status_code for r in racing} <= {200, 409}, [(r.status_code, r.text[:200]) for r in racing]
    fresh = [r for r in racing if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1
    assert all(r.headers.get("retry-after") == "1" for r in racing if r.status_code == 409)

    # A key whose decision was refused (its own stale If-Match) is free again, as a rolled-back request's is.
    key = uuid4().hex
    refused, neighbour = await asyncio.gather(
        post_decision(outcomes, payer, claims[2], VERIFIED, key=key, if_match='"5"'),
        post_decision(outcomes, payer, claims[3], VERIFIED),
    )
    assert refused.status_code == 412
    assert neighbour.status_code == 200
    retried = await post_decision(outcomes, payer, claims[2], VERIFIED, key=key, if_match='"1"')
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    ledger = await assert_chain_verifies(outcomes, cast)
    assert sum(e["event"]["type"] == "dk.effekt.claim.verified" for e in ledger) == 4


# --- enrolments and eligibility confirmations -------------------------------------------------------------


def enrolment(cast: Cast, contract_id: Any, cpr: str, **extra: Any) -> dict[str, Any]:
    return {
        "partnership_id": str(cast.partnership_id),
        "contract_id": str(contract_id),
        "cpr": cpr,
        "municipality_code": "657",
        "enrolment_date": ENROLLED.isoformat(),
        **extra,
    }


async def post_enrolment(
    outcomes: httpx.AsyncClient, actor: Actor, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {**actor.headers, "Content-Type": "application/json", "Idempotency-Key": key or uuid4().hex}
    return await outcomes.post("/v1/participants", content=json.dumps(body).encode(), headers=headers)


async def post_confirmation(
    outcomes: httpx.AsyncClient,
    actor: Actor,
    participant_id: str,
    *,
    key: str | None = None,
    if_match: str | None = None,
) -> httpx.Response:
    headers = {**actor.headers, "Idempotency-Key": key or uuid4().hex}
    if if_match is not None:
        headers["If-Match"] = if_match
    return await outcomes.post(f"/v1/participants/{participant_id}/eligibility-confirmation", headers=headers)


async def test_the_participant_maximum_holds_exactly_under_50_way_concurrent_enrolments(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    outcomes = http["outcomes"]
    cast = await make_cast(grouped)
    contract_id, _ = await active_contract(
        http["contracts"], cast, employment_terms(cast, max_participants=20)
    )
    bodies = [enrolment(cast, contract_id, synthetic_cpr(1400 + n)) for n in range(48)]
    bodies.insert(10, enrolment(cast, contract_id, synthetic_cpr(1400)))  # the same person twice
    future = (TODAY + timedelta(days=1)).isoformat()
    bodies.insert(20, enrolment(cast, contract_id, synthetic_cpr(1499), enrolment_date=future))  # bad
    responses = await asyncio.gather(*(post_enrolment(outcomes, cast.provider, b) for b in bodies))
    statuses = Counter(r.status_code for r in responses)
    assert statuses[201] == 20, [r.text[:200] for r in responses if r.status_code not in (201, 409, 422)]
    assert responses[20].json()["code"] == "validation-failed"
    codes = Counter(r.json()["code"] for r in responses if r.status_code != 201)
    # The second of the same person is a duplicate, or, arriving once the contract is full, refused so.
    assert codes["contract-full"] + codes["duplicate-participant"] == 29, codes
    assert codes["contract-full"] >= 28
    assert sum(codes.values()) == 30, codes
    created = [r.json() for r in responses if r.status_code == 201]
    assert len({p["pseudonym"] for p in created}) == 20  # no one enrolled twice
    assert all(
        r.headers["location"] == f"/v1/participants/{r.json()['id']}"
        for r in responses
        if r.status_code == 201
    )
    assert all(p["version"] == 1 and p["created_at"] for p in created)
    ledger = await assert_chain_verifies(outcomes, cast)
    assert sum(e["event"]["type"] == "dk.effekt.participant.enrolled" for e in ledger) == 20
    assert shared_commits(ledger, "participant.enrolled") >= 2


async def test_enrolment_idempotency_keys_replay_within_and_across_groups(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    outcomes = http["outcomes"]
    cast = await make_cast(grouped)
    contract_id, _ = await active_contract(http["contracts"], cast, employment_terms(cast))
    key = uuid4().hex
    body = enrolment(cast, contract_id, synthetic_cpr(1500))
    first = await post_enrolment(outcomes, cast.provider, body, key)
    again = await post_enrolment(outcomes, cast.provider, body, key)
    assert first.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content
    other = enrolment(cast, contract_id, synthetic_cpr(1501))
    assert (await post_enrolment(outcomes, cast.provider, other, key)).status_code == 422

    key = uuid4().hex
    body = enrolment(cast, contract_id, synthetic_cpr(1502))
    racing = await asyncio.gather(*(post_enrolment(outcomes, cast.provider, body, key) for _ in range(3)))
    assert {r.status_code for r in racing} <= {201, 409}, [(r.status_code, r.text[:200]) for r in racing]
    assert len({r.json()["id"] for r in racing if r.status_code == 201}) == 1

    # A refused enrolment's key is free again; its neighbour in the group is enrolled.
    key = uuid4().hex
    future = enrolment(
        cast, contract_id, synthetic_cpr(1503), enrolment_date=(TODAY + timedelta(days=2)).isoformat()
    )
    refused, neighbour = await asyncio.gather(
        post_enrolment(outcomes, cast.provider, future, key),
        post_enrolment(outcomes, cast.provider, enrolment(cast, contract_id, synthetic_cpr(1504))),
    )
    assert refused.status_code == 422
    assert neighbour.status_code == 201
    retried = await post_enrolment(
        outcomes, cast.provider, enrolment(cast, contract_id, synthetic_cpr(1503)), key
    )
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    ledger = await assert_chain_verifies(outcomes, cast)
    assert sum(e["event"]["type"] == "dk.effekt.participant.enrolled" for e in ledger) == 4


async def test_concurrent_confirmations_each_answer_on_their_own(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    outcomes = http["outcomes"]
    cast = await make_cast(grouped)
    contract_id, _ = await active_contract(http["contracts"], cast, employment_terms(cast))
    enrolled = await asyncio.gather(
        *(
            post_enrolment(outcomes, cast.provider, enrolment(cast, contract_id, synthetic_cpr(1600 + n)))
            for n in range(50)
        )
    )
    people = [check(r, 201)["id"] for r in enrolled]
    payer = cast.payer_a
    requests = [post_confirmation(outcomes, payer, p) for p in people[:44]]
    requests += [
        post_confirmation(outcomes, payer, people[44], if_match='"3"'),  # a stale ETag: its own 412
        post_confirmation(outcomes, payer, people[45], if_match='"1"'),  # the one it read: confirmed
        post_confirmation(outcomes, payer, str(uuid4())),  # no such participant
        post_confirmation(outcomes, cast.payer_b, people[46]),  # another municipality: not visible
        post_confirmation(outcomes, payer, people[0]),  # again: it replays the confirmation
    ]
    # Across groups: the stored answer, whole; the key for another participant is a reuse.
    key = uuid4().hex
    first = await post_confirmation(outcomes, payer, people[47], key=key)
    responses = await asyncio.gather(*requests, post_confirmation(outcomes, payer, people[47], key=key))
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 44 + [412, 200, 404, 404, 200, 200], [r.text[:200] for r in responses]
    assert responses[45].headers["etag"] == '"2"'
    assert responses[48].json()["eligibility_confirmed_at"] == responses[0].json()["eligibility_confirmed_at"]
    assert responses[-1].headers.get("idempotent-replayed") == "true"
    assert responses[-1].content == first.content
    assert (await post_confirmation(outcomes, payer, people[48], key=key)).status_code == 422
    # The refused one's key is free again.
    key = uuid4().hex
    assert (await post_confirmation(outcomes, payer, people[44], key=key, if_match='"9"')).status_code == 412
    retried = await post_confirmation(outcomes, payer, people[44], key=key, if_match='"1"')
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    ledger = await assert_chain_verifies(outcomes, cast)
    assert sum(e["event"]["type"] == "dk.effekt.participant.eligibility_confirmed" for e in ledger) == 47
    assert shared_commits(ledger, "participant.eligibility_confirmed") >= 2
