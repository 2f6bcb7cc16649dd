"""The outcome feed: complete and ordered under concurrent writers, replayable, long-polled and streamed,
readable by the CloudEvents SDK, verifiable as a chain, and redacted per audience."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from cloudevents.core.formats.json import JSONFormat

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from services.outcomes.chain import verify_chain
from services.outcomes.feed.service import chain_item
from tests.outcomes.integrations.support import ledger_engine, read_feed_page, write_events
from tests.outcomes.support import TODAY, active_contract, confirm, employment_terms, enrol
from tests.outcomes.test_privacy import outcomes_dsn

WRITERS, PER_WRITER = 4, 500


async def test_a_cursor_consumer_gets_every_event_exactly_once_in_order_while_writers_race(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    total = WRITERS * PER_WRITER
    received: list[dict[str, Any]] = []
    cursors: list[str | None] = [None]
    position: str | None
    async with ledger_engine(platform) as engine:
        writers = asyncio.gather(
            *(write_events(engine, cast.partnership_id, PER_WRITER, tag=f"w{n}") for n in range(WRITERS))
        )
        while len(received) < total:
            page, cursor = await read_feed_page(
                outcomes, cast.investor_machine, cursors[-1], limit=97, wait=5
            )
            received.extend(page)
            cursors.append(cursor)
        await writers
    page, _ = await read_feed_page(outcomes, cast.investor_machine, cursors[-1])
    assert page == []
    assert [int(e["sequence"]) for e in received] == list(range(1, total + 1))
    assert len({e["id"] for e in received}) == total
    per_writer = {
        f"w{n}": [e["data"]["n"] for e in received if e["data"]["writer"] == f"w{n}"] for n in range(WRITERS)
    }
    assert all(ns == list(range(PER_WRITER)) for ns in per_writer.values())
    report = verify_chain([chain_item(e) for e in received])
    assert report.valid, report
    # Replaying from a cursor taken mid-run gives exactly the same events from there on.
    middle = len(cursors) // 2
    replayed: list[dict[str, Any]] = []
    position = cursors[middle]
    while True:
        page, position = await read_feed_page(outcomes, cast.investor_machine, position, limit=1000)
        if not page:
            break
        replayed.extend(page)
    assert replayed
    assert replayed == received[len(received) - len(replayed) :]
    assert int(replayed[-1]["sequence"]) == total


async def test_a_feed_page_parses_with_the_cloudevents_sdk(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    async with ledger_engine(platform) as engine:
        await write_events(engine, cast.partnership_id, 3)
    response = await outcomes.get(
        "/v1/feed", params={"partnership": str(cast.partnership_id)}, headers=cast.investor.headers
    )
    assert response.headers["content-type"].startswith("application/cloudevents-batch+json")
    events = [JSONFormat().read(None, json.dumps(item)) for item in response.json()]
    assert [e.get_type() for e in events] == ["dk.effekt.test.written"] * 3
    assert [e.get_extension("sequence") for e in events] == [f"{n:019d}" for n in (1, 2, 3)]
    assert all(e.get_source().endswith(str(cast.partnership_id)) for e in events)


async def test_a_long_poll_returns_the_event_committed_while_it_waits(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    _, cursor = await read_feed_page(outcomes, cast.investor, None)
    async with ledger_engine(platform) as engine:
        waiting = asyncio.create_task(read_feed_page(outcomes, cast.investor, cursor, wait=25))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await write_events(engine, cast.partnership_id, 1)
        page, _ = await waiting
    assert [int(e["sequence"]) for e in page] == [1]


async def test_the_stream_sends_events_live_and_resumes_after_the_last_event_id(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    async def first(n: int, headers: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
        got: list[tuple[str, dict[str, Any]]] = []
        event_id = ""
        async with outcomes.stream("GET", "/v1/feed/stream", headers=headers, timeout=30) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    got.append((event_id, json.loads(line[6:])))
                    if len(got) == n:
                        return got
        return got

    async with ledger_engine(platform) as engine:
        await write_events(engine, cast.partnership_id, 2)
        live = asyncio.create_task(first(4, cast.evaluator.headers))
        await asyncio.sleep(0.5)
        await write_events(engine, cast.partnership_id, 2, tag="later")
        streamed = await live
    assert [int(e["sequence"]) for _, e in streamed] == [1, 2, 3, 4]
    resumed = await first(2, {**cast.evaluator.headers, "Last-Event-ID": streamed[1][0]})
    assert [int(e["sequence"]) for _, e in resumed] == [3, 4]


async def test_investors_see_no_pseudonym_evaluators_do_and_a_payer_only_its_residents(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    for n, code in enumerate(("657", "791")):
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(n),
            municipality_code=code,
            enrolment_date=TODAY - timedelta(days=30),
        )
        await confirm(outcomes, cast.payer_a if code == "657" else cast.payer_b, person["id"])
    connection = await asyncpg.connect(outcomes_dsn(platform))
    try:
        pseudonyms = dict(
            await connection.fetch(
                "SELECT municipality_code, pseudonym FROM participants WHERE partnership_id = $1",
                cast.partnership_id,
            )
        )
    finally:
        await connection.close()
    assert len(pseudonyms) == 2

    async def feed_of(actor: Any) -> tuple[str, list[dict[str, Any]]]:
        response = await outcomes.get(
            "/v1/feed", params={"partnership": str(cast.partnership_id)}, headers=actor.headers
        )
        assert response.status_code == 200, response.text
        return response.text, response.json()

    for investor in (cast.investor, cast.investor_machine):
        text, items = await feed_of(investor)
        assert len(items) == 4
        assert not any(p in text for p in pseudonyms.values())
        assert verify_chain([chain_item(e) for e in items]).valid
    _, items = await feed_of(cast.evaluator)
    assert {e.get("pseudonym") for e in items} == set(pseudonyms.values())
    assert verify_chain([chain_item(e) for e in items]).valid
    text, items = await feed_of(cast.payer_a)
    assert pseudonyms["657"] in text
    assert pseudonyms["791"] not in text
    assert verify_chain([chain_item(e) for e in items]).valid


async def test_the_feed_refuses_outsiders_unknown_cursors_and_oversized_pages(
    cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    p = str(cast.partnership_id)
    outsider = await outcomes.get("/v1/feed", params={"partnership": p}, headers=cast.outsider.headers)
    assert outsider.status_code == 403
    bad = await outcomes.get("/v1/feed", params={"after": "bm90LWEtY3Vyc29y"}, headers=cast.investor.headers)
    assert bad.status_code == 400
    assert bad.json()["invalid_params"][0]["name"] == "after"
    big = await outcomes.get("/v1/feed", params={"limit": 1001}, headers=cast.investor.headers)
    assert big.status_code in (400, 422)
    for odd in ("dk.effekt.claim\x00.verified", "claim.verified", "x" * 101):
        typed = await outcomes.get("/v1/feed", params={"type": odd}, headers=cast.investor.headers)
        assert typed.status_code == 400, typed.text
        assert typed.json()["invalid_params"][0]["name"] == "type"
    anonymous = await outcomes.get("/v1/feed")
    assert anonymous.status_code == 401
    own, _ = await read_feed_page(outcomes, cast.outsider, None)
    assert own == []
