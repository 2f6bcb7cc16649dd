"""`/metrics` reports the webhook backlog from the outbox, not a gauge nobody sets."""

from __future__ import annotations

import asyncio

import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.platform import free_port
from tests.outcomes.integrations.support import ledger_engine, subscribe, write_events


async def gauges(outcomes: httpx.AsyncClient) -> dict[str, float]:
    text = (await outcomes.get("/metrics")).text
    values = {}
    for line in text.splitlines():
        if line.startswith(("effekt_webhook_backlog ", 'effekt_feed_lag_seconds{feed="webhooks"} ')):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def test_undelivered_events_show_as_backlog_and_lag(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every attempt fails and waits
    await subscribe(outcomes, cast.investor, cast.partnership_id, unreachable)
    async with ledger_engine(platform) as engine:
        await write_events(engine, cast.partnership_id, 3, tag="backlog")
    await asyncio.sleep(1.1)  # let the oldest pending delivery age past a second
    values = await gauges(outcomes)
    assert values["effekt_webhook_backlog"] >= 3
    assert values['effekt_feed_lag_seconds{feed="webhooks"}'] >= 1.0
