"""Helpers for the integration tests: ledger events written straight through the ledger module (thousands
of them, fast, with the real lock and outbox), a feed reader, and a Standard Webhooks receiver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from standardwebhooks.webhooks import Webhook

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from kit.auth import Principal
from services.outcomes.ledger.service import append_event

WRITER = Principal(
    subject="integration-test",
    kind="client",
    organisation_id=uuid4(),
    partner_type="provider",
    scopes=frozenset(),
)


@asynccontextmanager
async def ledger_engine(platform: Platform) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(platform.database_urls["outcomes"], pool_size=8)  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        await engine.dispose()


async def write_events(engine: AsyncEngine, partnership_id: UUID, count: int, *, tag: str = "w") -> None:
    """`count` events, one transaction each, through the service's own append."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    for n in range(count):
        async with sessions() as session, session.begin():
            await append_event(
                session,
                WRITER,
                partnership_id,
                type="test.written",
                subject=f"tests/{tag}-{n}",
                data={"writer": tag, "n": n},
            )


async def read_feed_page(
    outcomes: httpx.AsyncClient, actor: Actor, cursor: str | None, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    query = {k: v for k, v in {"after": cursor, **params}.items() if v is not None}
    response = await outcomes.get("/v1/feed", params=query, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cloudevents-batch+json")
    return json.loads(response.content), response.headers["Feed-Cursor"]


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that verifies every delivery with the `standardwebhooks` package."""

    secret: str = ""
    fail_first: int = 0  # answer 503 to this many requests before accepting
    stall: asyncio.Event | None = None  # hold each request until this event is set
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # webhook-id -> event
    raw: dict[str, tuple[dict[str, str], bytes]] = field(
        default_factory=dict
    )  # webhook-id -> (headers, body)
    bad_signatures: int = 0
    requests: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.stall is not None:
            await self.stall.wait()
        if self.requests <= self.fail_first:
            return web.Response(status=503)
        body = await request.read()
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:
            self.bad_signatures += 1
            return web.Response(status=400)
        self.received[request.headers["webhook-id"]] = event
        self.raw[request.headers["webhook-id"]] = (dict(request.headers), body)
        return web.Response(status=204)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Receiver]:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        try:
            yield self
        finally:
            await runner.cleanup()

    def sequences(self, partnership_id: UUID) -> list[int]:
        return sorted(
            int(e["sequence"]) for e in self.received.values() if e["partnershipid"] == str(partnership_id)
        )


async def subscribe(
    outcomes: httpx.AsyncClient, actor: Actor, partnership_id: UUID, url: str, **extra: Any
) -> Any:
    response = await outcomes.post(
        "/v1/webhook-subscriptions",
        json={"partnership_id": str(partnership_id), "url": url, **extra},
        headers={**actor.headers, "Idempotency-Key": uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def eventually(condition: Any, *, within: float = 60.0, interval: float = 0.2) -> None:
    """Wait until `condition()` is true; fail with the timeout otherwise (a bound, not a timing check)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


def ndjson(lines: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(line) for line in lines) + "\n"


async def post_bulk(
    outcomes: httpx.AsyncClient,
    cast: Cast,
    body: str,
    media_type: str = "application/x-ndjson",
    *,
    actor: Actor | None = None,
) -> list[dict[str, Any]]:
    response = await outcomes.post(
        f"/v1/partnerships/{cast.partnership_id}/bulk-imports",
        content=body.encode(),
        headers={**(actor or cast.provider).headers, "Content-Type": media_type},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


async def claimed_by_bulk(
    outcomes: httpx.AsyncClient,
    cast: Cast,
    enrolments: list[dict[str, Any]],
    *,
    achieved: date,
    facts: dict[str, Any] | None = None,
) -> list[str]:
    """The provider enrols the given people by one bulk file, payer A confirms each by another, and the
    provider claims a job start achieved on `achieved` for each (with `facts`, when the terms ask): the
    claims' ids, in the enrolments' order. Every line must be accepted."""
    people = await post_bulk(outcomes, cast, ndjson([{"kind": "enrolment", **e} for e in enrolments]))
    assert {r["result"] for r in people} == {"accepted"}, people[:3]
    ids = [r["id"] for r in people]
    eligibility = [
        {"kind": "eligibility", "external_reference": f"e-{n}", "participant_id": p}
        for n, p in enumerate(ids)
    ]
    confirmed = await post_bulk(outcomes, cast, ndjson(eligibility), actor=cast.payer_a)
    assert {r["result"] for r in confirmed} == {"accepted"}, confirmed[:3]
    claims = [
        {
            "kind": "claim",
            "external_reference": f"c-{n}",
            "participant_id": p,
            "outcome_code": "job_start",
            "achievement_date": achieved.isoformat(),
            "evidence_reference": f"eIndkomst {n}",
            **({"facts": facts} if facts is not None else {}),
        }
        for n, p in enumerate(ids)
    ]
    claimed = await post_bulk(outcomes, cast, ndjson(claims))
    assert {r["result"] for r in claimed} == {"accepted"}, claimed[:3]
    return [r["id"] for r in claimed]
