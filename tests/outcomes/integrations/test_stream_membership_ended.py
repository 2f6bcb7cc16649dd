"""An open SSE stream ends as soon as identity's revocation list refuses its token (here: the partner's
membership removed), the way it ends at expiry, instead of running on until the token would expire."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, token_for
from effekt.sandbox.directory import remove_membership
from effekt.sandbox.signin import bearer
from tests.outcomes.integrations.support import eventually, ledger_engine, write_events

# Generous: revocation lists are polled every 0.5 s here; this only bounds how long a broken build fails.
DEADLINE = 20.0


async def test_an_open_stream_ends_when_its_partners_membership_is_removed(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    evaluator = cast.evaluator
    lines: list[str] = []
    opened = asyncio.Event()

    async def read_stream() -> None:
        params = {"partnership": str(cast.partnership_id)}
        async with outcomes.stream(
            "GET", "/v1/feed/stream", params=params, headers=evaluator.headers, timeout=60
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                lines.append(line)
                opened.set()

    async with ledger_engine(platform) as engine:
        reader = asyncio.create_task(read_stream())
        await asyncio.wait_for(opened.wait(), DEADLINE)
        await write_events(engine, cast.partnership_id, 1)
        await eventually(lambda: any(line.startswith("data: ") for line in lines), within=DEADLINE)
        await remove_membership(platform, cast.partnership_id, evaluator.organisation_id)
        started = time.monotonic()
        await asyncio.wait_for(reader, DEADLINE)  # the stream closed cleanly, well before the token expires
        ended_after = time.monotonic() - started
    assert "event: token-revoked" in lines, lines[-5:]
    detail = json.loads(lines[lines.index("event: token-revoked") + 1].removeprefix("data: "))["detail"]
    assert "predates a change to its organisation" in detail
    print(f"stream ended {ended_after:.2f} s after the membership was removed")
    # A new token carries no membership, and the ordinary rules refuse it the partnership's stream.
    fresh = await token_for(platform, evaluator)
    refused = await outcomes.get(
        "/v1/feed/stream", params={"partnership": str(cast.partnership_id)}, headers=bearer(fresh)
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "not-a-partner"
