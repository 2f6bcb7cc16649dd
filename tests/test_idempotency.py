"""`Idempotency-Key` on every service's writes, as the IETF draft and Stripe behave (issue 16): a replay is
the first response whole (status, body byte for byte, `ETag`, `Location`, `Content-Type`, …); a second
request while the first is still running gets 409 at once; the same key with another body is a 422; keys
expire after the configured lifetime and are swept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast, make_cast, operator_headers, random_cvr
from tests.contracts.support import terms_for
from tests.outcomes.support import TODAY, active_contract, employment_terms
from tests.platform import running_platform

Blocked = Coroutine[Any, Any, None]
# What is each response's own, never replayed: the transport's and the request's.
PER_REQUEST = {"date", "server", "x-request-id", "idempotent-replayed"}
LIFETIME = 3  # seconds, on this module's short-lived platform


@dataclass
class Write:
    """A write of one service: its request, and the table its effect inserts into (to hold it in flight)."""

    service: str
    path: str
    body: Callable[[], dict[str, Any]]  # a fresh, valid body
    headers: dict[str, str]
    table: str


async def writes(platform: Platform, cast: Cast, contracts: httpx.AsyncClient) -> list[Write]:
    """One keyed write per service, each answering with the headers a replay must repeat."""
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    counter = iter(range(100, 10_000))

    def enrolment() -> dict[str, Any]:
        return {
            "partnership_id": str(cast.partnership_id),
            "contract_id": str(contract_id),
            "cpr": synthetic_cpr(next(counter)),
            "municipality_code": "657",
            "enrolment_date": (TODAY - timedelta(days=20)).isoformat(),
        }

    return [
        Write(
            "identity",
            "/v1/organisations",
            lambda: {"name": f"Org {uuid4().hex[:6]}", "partner_type": "investor", "cvr": random_cvr()},
            await operator_headers(platform),
            "organisations",
        ),
        Write(
            "contracts",
            "/v1/contracts",
            lambda: {
                "partnership_id": str(cast.partnership_id),
                "terms": terms_for(cast, title=f"Flygtninge i job {uuid4().hex[:6]}"),
            },
            cast.payer_a.headers,
            "contracts",
        ),
        Write("outcomes", "/v1/participants", enrolment, cast.provider.headers, "participants"),
    ]


def dsn(platform: Platform, service: str) -> str:
    url: str = platform.database_urls[service]  # type: ignore[attr-defined]
    return url.replace("postgresql+asyncpg://", "postgresql://")


def replayed_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_REQUEST}


@asynccontextmanager
async def clients(platform: Platform) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with (
        new_client(base_url=platform.url("identity"), timeout=30) as identity,
        new_client(base_url=platform.url("contracts"), timeout=30) as contracts,
        new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        yield {"identity": identity, "contracts": contracts, "outcomes": outcomes}


async def post(client: httpx.AsyncClient, write: Write, key: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        write.path,
        content=json.dumps(body).encode(),
        headers={**write.headers, "Content-Type": "application/json", "Idempotency-Key": key},
    )


@asynccontextmanager
async def inserts_held(
    platform: Platform, write: Write
) -> AsyncIterator[Callable[[], Coroutine[Any, Any, None]]]:
    """Inserts into the write's table wait while this lasts; yields a wait for the first one to block."""
    connection = await asyncpg.connect(dsn(platform, write.service))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute(f"LOCK TABLE {write.table} IN SHARE MODE")

    async def blocked() -> None:
        deadline = time.monotonic() + 20
        while not await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        ):
            activity = await connection.fetch(
                "SELECT state, wait_event_type, left(query, 60) AS query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert time.monotonic() < deadline, [dict(row) for row in activity if row["state"] != "idle"]
            await asyncio.sleep(0.05)

    try:
        yield blocked
    finally:
        await transaction.rollback()
        await connection.close()


@pytest.fixture(scope="module")
def short_lived(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform whose keys live `LIFETIME` seconds and are swept every half second."""
    env = {
        f"{service}_{name}": value
        for service in ("IDENTITY", "CONTRACTS", "OUTCOMES")
        for name, value in (
            ("IDEMPOTENCY_REPLAY_SECONDS", str(LIFETIME)),
            ("IDEMPOTENCY_SWEEP_SECONDS", "0.5"),
        )
    }
    with running_platform(pg_server_url, tmp_path_factory.mktemp("idempotency"), extra_env=env) as platform:
        yield platform


SERVICES = ("identity", "contracts", "outcomes")


@pytest.fixture(scope="module")
async def shared_writes(platform: Platform, shared_cast: Cast) -> dict[str, Write]:
    cast = shared_cast
    async with clients(platform) as http:
        return {w.service: w for w in await writes(platform, cast, http["contracts"])}


@pytest.mark.parametrize("service", SERVICES)
async def test_a_replay_is_the_first_response_whole(
    platform: Platform, shared_writes: dict[str, Write], service: str
) -> None:
    write = shared_writes[service]
    key, body = uuid4().hex, write.body()
    async with clients(platform) as http:
        first = await post(http[service], write, key, body)
        again = await post(http[service], write, key, body)
        reused = await post(http[service], write, key, write.body())
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert replayed_headers(again) == replayed_headers(first)
    assert first.headers["content-type"] == "application/json"
    assert "etag" in first.headers or "location" in first.headers
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency-key-reused")


@pytest.mark.parametrize("service", SERVICES)
async def test_a_second_request_while_the_first_runs_gets_409_at_once(
    platform: Platform, shared_writes: dict[str, Write], service: str
) -> None:
    write = shared_writes[service]
    key, body = uuid4().hex, write.body()
    async with clients(platform) as http:
        async with inserts_held(platform, write) as blocked:
            first = asyncio.create_task(post(http[service], write, key, body))
            waiting = asyncio.create_task(blocked())
            await asyncio.wait([first, waiting], return_when=asyncio.FIRST_COMPLETED)
            assert not first.done(), first.result().text
            started = time.monotonic()
            second, other = await asyncio.gather(
                post(http[service], write, key, body), post(http[service], write, key, write.body())
            )
            waited = time.monotonic() - started
            assert not first.done()
        done = await first
        after = await post(http[service], write, key, body)
    for response in (second, other):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "idempotent-request-in-flight"
        assert response.headers["retry-after"] == "1"
    assert waited < 5, "the second request waited for the first"
    assert done.status_code == 201, done.text
    assert after.headers["idempotent-replayed"] == "true"
    assert after.content == done.content


async def test_keys_expire_after_the_configured_lifetime_and_are_swept(short_lived: Platform) -> None:
    cast = await make_cast(short_lived)
    async with clients(short_lived) as http:
        # Each service's key is written first, then all three lifetimes are waited out together.
        sent: list[tuple[Write, str, dict[str, Any], httpx.Response]] = []
        for write in await writes(short_lived, cast, http["contracts"]):
            key, body = uuid4().hex, write.body()
            first = await post(http[write.service], write, key, body)
            replay = await post(http[write.service], write, key, body)
            assert (first.status_code, replay.headers.get("idempotent-replayed")) == (201, "true"), write
            sent.append((write, key, body, first))

        async def swept(service: str, key: str) -> None:
            connection = await asyncpg.connect(dsn(short_lived, service))
            try:
                deadline = time.monotonic() + LIFETIME + 10
                while await connection.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key):
                    assert time.monotonic() < deadline, f"{service} never swept the expired key"
                    await asyncio.sleep(0.2)
            finally:
                await connection.close()

        await asyncio.gather(*(swept(write.service, key) for write, key, _, _ in sent))
        for write, key, body, first in sent:
            fresh = await post(http[write.service], write, key, body)
            # After expiry the key is a new request: done again, not replayed (an enrolment of the same
            # person is then refused as a duplicate, which is the rules speaking, not a replay).
            assert "idempotent-replayed" not in fresh.headers, write
            assert fresh.content != first.content, write


async def test_an_expired_key_not_yet_swept_is_taken_over_by_a_new_request(
    platform: Platform, shared_writes: dict[str, Write]
) -> None:
    """The key is claimed in the same statement that takes its lock: an expired row still stored (the sweep
    has not come round) is taken over, so the same key then runs anew, with any body, and replays that."""
    write = shared_writes["outcomes"]
    async with clients(platform) as http:
        key = uuid4().hex
        first = await post(http["outcomes"], write, key, write.body())
        assert first.status_code == 201
        connection = await asyncpg.connect(dsn(platform, "outcomes"))
        try:
            aged = await connection.execute(
                "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = $1", key
            )
            assert aged == "UPDATE 1"
        finally:
            await connection.close()
        other = write.body()
        fresh = await post(http["outcomes"], write, key, other)
        assert fresh.status_code == 201
        assert "idempotent-replayed" not in fresh.headers
        assert fresh.json()["id"] != first.json()["id"]
        replay = await post(http["outcomes"], write, key, other)
        assert replay.headers.get("idempotent-replayed") == "true"
        assert replay.content == fresh.content
        reused = await post(http["outcomes"], write, key, write.body())
        assert reused.status_code == 422
