"""Group commit of single claims (services/outcomes/groups.py): concurrent claims written in one
transaction still answer each on its own. On a platform whose groups collect for 50 ms, so that concurrent
claims do share a transaction here (the ledger shows it: one transaction's events share their time):
the per-participant maximum holds exactly under 50-way concurrency, a refused claim fails alone,
Idempotency-Keys replay within and across groups, the chain verifies offline after a concurrent run, and a
process killed while groups are in flight loses none of the claims or verifications it acknowledged.
Claims of callers of different partnerships share a group, whose transaction names all their partnerships:
each partnership's chain still verifies, and a caller's claim for another partnership's participant is
refused exactly as it is alone, whoever shares its group."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Actor, Cast, make_cast
from tests.independent_chain import verify_feed_chain
from tests.outcomes.integrations.support import read_feed_page
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    confirm,
    employment_terms,
    enrol,
    whole_ledger,
)

ACHIEVED = TODAY - timedelta(days=10)


@pytest.fixture(autouse=True)
def _outcomes_running(grouped: Platform) -> Iterator[None]:
    """The group platform is shared with test_write_groups.py: a test here that failed between killing
    the outcome service and starting it again leaves it running all the same."""
    yield
    if "outcomes" not in grouped.processes:
        grouped.start_one("outcomes")
        grouped.wait_ready(60)


@pytest.fixture
async def http(grouped: Platform) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with (
        new_client(base_url=grouped.url("contracts"), timeout=60) as contracts,
        new_client(base_url=grouped.url("outcomes"), timeout=60) as outcomes,
    ):
        yield {"contracts": contracts, "outcomes": outcomes}


async def people(http: dict[str, httpx.AsyncClient], cast: Cast, count: int, start: int) -> list[str]:
    """`count` enrolled, eligible participants under employment terms (one job start each at most)."""
    contract_id, _ = await active_contract(http["contracts"], cast, employment_terms(cast))
    ids = []
    for n in range(count):
        participant = await enrol(
            http["outcomes"],
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(start + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=60),
        )
        await confirm(http["outcomes"], cast.payer_a, participant["id"])
        ids.append(participant["id"])
    return ids


def claim_body(participant_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "participant_id": participant_id,
        "outcome_code": "job_start",
        "achievement_date": ACHIEVED.isoformat(),
        "evidence_reference": "eIndkomst extract",
        **extra,
    }


async def post_claim(
    outcomes: httpx.AsyncClient, cast: Cast, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    return await outcomes.post(
        "/v1/outcome-claims",
        content=json.dumps(body).encode(),
        headers={
            **cast.provider.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key or uuid4().hex,
        },
    )


async def post_claim_as(outcomes: httpx.AsyncClient, actor: Actor, body: dict[str, Any]) -> httpx.Response:
    return await outcomes.post(
        "/v1/outcome-claims",
        json=body,
        headers={**actor.headers, "Idempotency-Key": uuid4().hex},
    )


def shared_commits(ledger: list[dict[str, Any]]) -> int:
    """How many claim events were written in a transaction with another one (same time, same commit)."""
    times = Counter(e["event"]["time"] for e in ledger if e["event"]["type"] == "dk.effekt.claim.submitted")
    return sum(n for n in times.values() if n > 1)


async def assert_chain_verifies(outcomes: httpx.AsyncClient, cast: Cast) -> list[dict[str, Any]]:
    ledger = await whole_ledger(outcomes, cast.provider, cast.partnership_id)
    assert [e["sequence"] for e in ledger] == list(range(1, len(ledger) + 1))
    feed: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page, cursor = await read_feed_page(
            outcomes, cast.provider, cursor, partnership=str(cast.partnership_id), limit=200
        )
        if not page:
            break
        feed.extend(page)
    assert len(feed) == len(ledger)
    assert verify_feed_chain(feed) == ledger[-1]["hash"]  # offline, by tests/independent_chain.py
    verified = check(
        await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/ledger/verification", headers=cast.provider.headers
        ),
        200,
    )
    assert verified["valid"], verified
    return ledger


async def test_the_per_participant_maximum_holds_exactly_under_50_way_concurrency(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    cast = await make_cast(grouped)
    ids = await people(http, cast, 5, 700)
    bodies = [claim_body(ids[n % 5]) for n in range(50)]
    responses = await asyncio.gather(*(post_claim(http["outcomes"], cast, b) for b in bodies))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 5, 422: 45}, [r.text for r in responses if r.status_code not in (201, 422)]
    refused = {r.json()["type"].rsplit("/", 1)[-1] for r in responses if r.status_code == 422}
    assert refused == {"per-participant-maximum"}
    created = [r.json() for r in responses if r.status_code == 201]
    assert sorted(c["participant_id"] for c in created) == sorted(ids)
    ledger = await assert_chain_verifies(http["outcomes"], cast)
    assert shared_commits(ledger) >= 2  # the claims did share transactions


async def test_a_refused_claim_in_a_group_fails_alone(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    cast = await make_cast(grouped)
    ids = await people(http, cast, 8, 760)
    bodies = [claim_body(p) for p in ids]
    bodies.insert(3, claim_body(ids[0], achievement_date=(TODAY + timedelta(days=3)).isoformat()))
    bodies.insert(6, claim_body(str(uuid4())))
    bodies.insert(8, claim_body(ids[1], outcome_code="no_such_outcome"))
    responses = await asyncio.gather(*(post_claim(http["outcomes"], cast, b) for b in bodies))
    statuses = [r.status_code for r in responses]
    assert statuses[3] == 422
    assert statuses[6] == 404
    assert statuses[8] == 422
    assert [s for n, s in enumerate(statuses) if n not in (3, 6, 8)] == [201] * 8
    ledger = await assert_chain_verifies(http["outcomes"], cast)
    assert shared_commits(ledger) >= 2


async def test_idempotency_keys_replay_within_and_across_groups(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    cast = await make_cast(grouped)
    outcomes = http["outcomes"]
    ids = await people(http, cast, 4, 800)

    # Across groups: the stored answer, whole.
    key = uuid4().hex
    first = await post_claim(outcomes, cast, claim_body(ids[0]), key)
    again = await post_claim(outcomes, cast, claim_body(ids[0]), key)
    assert first.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert (await post_claim(outcomes, cast, claim_body(ids[1]), key)).status_code == 422  # key reused

    # Within one group's window: the second with the key is in flight (409) or, written after the first,
    # replays it; either way one claim is made.
    key = uuid4().hex
    racing = await asyncio.gather(*(post_claim(outcomes, cast, claim_body(ids[1]), key) for _ in range(3)))
    made = {r.json()["id"] for r in racing if r.status_code == 201}
    assert len(made) == 1, [(r.status_code, r.text[:200]) for r in racing]
    assert {r.status_code for r in racing} <= {201, 409}
    assert all(r.headers.get("retry-after") == "1" for r in racing if r.status_code == 409)

    # A key whose claim was refused is free again, as a rolled-back request's is.
    key = uuid4().hex
    future = claim_body(ids[2], achievement_date=(TODAY + timedelta(days=1)).isoformat())
    refused, neighbour = await asyncio.gather(
        post_claim(outcomes, cast, future, key), post_claim(outcomes, cast, claim_body(ids[3]))
    )
    assert refused.status_code == 422
    assert neighbour.status_code == 201
    retried = await post_claim(outcomes, cast, claim_body(ids[2]), key)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    submitted = [
        e
        for e in await assert_chain_verifies(outcomes, cast)
        if e["event"]["type"] == "dk.effekt.claim.submitted"
    ]
    assert len(submitted) == 4


async def test_a_process_killed_mid_group_loses_no_acknowledged_claim(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    cast = await make_cast(grouped)
    outcomes = http["outcomes"]
    ids = await people(http, cast, 40, 850)
    answered: list[httpx.Response] = []
    first_acknowledged = asyncio.Event()

    async def send(participant_id: str) -> None:
        # A request the process died under is unanswered (a transport error): nothing was acknowledged.
        with contextlib.suppress(httpx.TransportError):
            response = await post_claim(outcomes, cast, claim_body(participant_id))
            answered.append(response)
            if response.status_code == 201:
                first_acknowledged.set()

    async def kill_once_some_are_answered() -> None:
        await first_acknowledged.wait()
        grouped.stop_one("outcomes", kill=True)

    await asyncio.gather(kill_once_some_are_answered(), *(send(p) for p in ids))
    grouped.start_one("outcomes")
    await asyncio.to_thread(grouped.wait_ready, 60)
    acknowledged = [r.json()["id"] for r in answered if r.status_code == 201]
    assert acknowledged
    async with new_client(base_url=grouped.url("outcomes"), timeout=60) as fresh:
        for claim_id in acknowledged:
            found = await fresh.get(f"/v1/outcome-claims/{claim_id}", headers=cast.provider.headers)
            assert found.status_code == 200, claim_id
        ledger = await assert_chain_verifies(fresh, cast)
    submitted = {
        e["event"]["data"]["claim_id"] for e in ledger if e["event"]["type"] == "dk.effekt.claim.submitted"
    }
    assert set(acknowledged) <= submitted
    assert UUID(acknowledged[0])


async def test_a_process_killed_mid_group_loses_no_acknowledged_verification(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    cast = await make_cast(grouped)
    outcomes = http["outcomes"]
    claimed = [
        check(await post_claim(outcomes, cast, claim_body(p)), 201)["id"]
        for p in await people(http, cast, 40, 900)
    ]
    answered: list[httpx.Response] = []
    first_acknowledged = asyncio.Event()

    async def verify(claim_id: str) -> None:
        # A request the process died under is unanswered (a transport error): nothing was acknowledged.
        with contextlib.suppress(httpx.TransportError):
            response = await outcomes.post(
                f"/v1/outcome-claims/{claim_id}/verification",
                json={"decision": "verified"},
                headers={**cast.payer_a.headers, "Idempotency-Key": uuid4().hex},
            )
            answered.append(response)
            if response.status_code == 200:
                first_acknowledged.set()

    async def kill_once_some_are_answered() -> None:
        await first_acknowledged.wait()
        grouped.stop_one("outcomes", kill=True)

    await asyncio.gather(kill_once_some_are_answered(), *(verify(c) for c in claimed))
    grouped.start_one("outcomes")
    await asyncio.to_thread(grouped.wait_ready, 60)
    acknowledged = {r.json()["id"]: r.json() for r in answered if r.status_code == 200}
    assert acknowledged
    async with new_client(base_url=grouped.url("outcomes"), timeout=60) as fresh:
        for claim_id, answer in acknowledged.items():
            found = check(
                await fresh.get(f"/v1/outcome-claims/{claim_id}", headers=cast.payer_a.headers), 200
            )
            assert found["status"] == "verified", claim_id
            assert (found["payable"], found["split"]) == (answer["payable"], answer["split"]), claim_id
        ledger = await assert_chain_verifies(fresh, cast)
        verified = [
            e["event"]["data"]["claim_id"] for e in ledger if e["event"]["type"] == "dk.effekt.claim.verified"
        ]
        assert set(acknowledged) <= set(verified)
        # Nothing half-written either: each verification on the chain is once, of a claim verified and split.
        assert len(verified) == len(set(verified))
        for claim_id in verified:
            found = check(
                await fresh.get(f"/v1/outcome-claims/{claim_id}", headers=cast.payer_a.headers), 200
            )
            assert found["status"] == "verified", claim_id
            assert found["split"], claim_id


def submitted_times(ledger: list[dict[str, Any]]) -> set[str]:
    return {e["event"]["time"] for e in ledger if e["event"]["type"] == "dk.effekt.claim.submitted"}


def problem_of(response: httpx.Response) -> tuple[int, str, str, str]:
    """What a refusal tells its caller, less what names the request itself (its instance, trace)."""
    body = response.json()
    return response.status_code, body["type"], body["title"], body.get("detail", "")


async def test_claims_of_several_partnerships_share_a_group_and_each_chain_verifies(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    casts = [await make_cast(grouped) for _ in range(3)]
    ready = [(cast, await people(http, cast, 6, 1000 + 20 * n)) for n, cast in enumerate(casts)]
    sends = [post_claim(http["outcomes"], cast, claim_body(ids[i])) for i in range(6) for cast, ids in ready]
    responses = await asyncio.gather(*sends)
    assert [r.status_code for r in responses] == [201] * 18, [r.text[:200] for r in responses]
    ledgers = [await assert_chain_verifies(http["outcomes"], cast) for cast in casts]
    for (_, ids), ledger in zip(ready, ledgers, strict=True):
        claimed = [e["event"]["data"] for e in ledger if e["event"]["type"] == "dk.effekt.claim.submitted"]
        assert sorted(d["participant_id"] for d in claimed) == sorted(ids)
    # One transaction's events share their time: some claims of different partnerships were written together.
    times = [submitted_times(ledger) for ledger in ledgers]
    assert any(times[a] & times[b] for a in range(3) for b in range(a + 1, 3))


async def test_a_claim_for_another_partnerships_participant_is_refused_as_alone_whoever_shares_its_group(
    grouped: Platform, http: dict[str, httpx.AsyncClient]
) -> None:
    outcomes = http["outcomes"]
    a, b = await make_cast(grouped), await make_cast(grouped)
    mine = await people(http, a, 4, 1100)
    theirs = await people(http, b, 8, 1120)
    alone = await post_claim_as(outcomes, a.provider, claim_body(theirs[7]))
    assert alone.status_code == 404
    # A's provider claims B's participants (and its own) while B's provider claims the same participants:
    # one group's transaction names both partnerships, so row security alone would admit B's rows to A.
    sends = []
    for n in range(4):
        sends.append(post_claim_as(outcomes, a.provider, claim_body(theirs[n])))
        sends.append(post_claim_as(outcomes, b.provider, claim_body(theirs[n])))
        sends.append(post_claim_as(outcomes, a.provider, claim_body(mine[n])))
        sends.append(post_claim_as(outcomes, a.provider, claim_body(theirs[4 + n])))
    responses = await asyncio.gather(*sends)
    intruding = [r for n, r in enumerate(responses) if n % 4 in (0, 3)]
    assert [problem_of(r) for r in intruding] == [problem_of(alone)] * 8
    assert all(str(b.partnership_id) not in r.text for r in intruding)
    assert [r.status_code for n, r in enumerate(responses) if n % 4 in (1, 2)] == [201] * 8
    for n, r in enumerate(responses):
        if n % 4 == 1:
            assert r.json()["partnership_id"] == str(b.partnership_id)
        elif n % 4 == 2:
            assert r.json()["partnership_id"] == str(a.partnership_id)
    # B's participants hold B's claims only, and A's ledger names none of them.
    a_ledger = await assert_chain_verifies(outcomes, a)
    b_ledger = await assert_chain_verifies(outcomes, b)
    b_claimed = [e["event"]["data"] for e in b_ledger if e["event"]["type"] == "dk.effekt.claim.submitted"]
    assert sorted(d["participant_id"] for d in b_claimed) == sorted(theirs[:4])
    a_named = {e["event"]["data"].get("participant_id") for e in a_ledger}
    assert not a_named & set(theirs)
    for participant_id in theirs[4:]:  # never claimed by anyone
        listed = check(
            await outcomes.get(
                "/v1/outcome-claims", params={"participant_id": participant_id}, headers=b.provider.headers
            ),
            200,
        )
        assert listed["items"] == []
    # ... and the two partnerships' claims were written together all the same.
    assert submitted_times(a_ledger) & submitted_times(b_ledger)
