"""Destructive webhook tests on a platform of their own, tuned for short leases and retry windows: a
dispatcher killed with SIGKILL mid-delivery loses nothing, and persistent failure disables a subscription
with the reason visible."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, make_cast
from effekt.sandbox.http import new_client
from tests.outcomes.integrations.support import Receiver, eventually, ledger_engine, subscribe, write_events
from tests.platform import running_platform

SHORT = {
    "OUTCOMES_WEBHOOK_TIMEOUT": "2",
    "OUTCOMES_WEBHOOK_LEASE": "3",
    "OUTCOMES_WEBHOOK_RETRY_BASE": "0.2",
    "OUTCOMES_WEBHOOK_RETRY_MAX_DELAY": "1",
    # Long enough to outlast a killed process's restart on a loaded machine (a delivery failing after its
    # window is given up by design, which would read as loss here), short enough to test giving up.
    "OUTCOMES_WEBHOOK_RETRY_FOR": "20",
    "OUTCOMES_WEBHOOK_POLL_INTERVAL": "0.2",
}


@pytest.fixture(scope="module")
def short_platform(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(
        pg_server_url, tmp_path_factory.mktemp("short-webhooks"), extra_env=SHORT
    ) as platform:
        yield platform


async def test_killing_the_dispatcher_mid_delivery_loses_nothing(short_platform: Platform) -> None:
    cast = await make_cast(short_platform)
    stall = asyncio.Event()
    async with (
        new_client(base_url=short_platform.url("outcomes"), timeout=30) as outcomes,
        Receiver(stall=stall).running() as receiver,
        ledger_engine(short_platform) as engine,
    ):
        created = await subscribe(outcomes, cast.investor, cast.partnership_id, receiver.url)
        receiver.secret = created["secret"]
        await write_events(engine, cast.partnership_id, 40)
        await eventually(lambda: receiver.requests > 0)  # deliveries are in flight, claimed
        short_platform.stop_one("outcomes", kill=True)
        await write_events(engine, cast.partnership_id, 20, tag="while-dead")
        stall.set()
        short_platform.start_one("outcomes")
        await asyncio.to_thread(short_platform.wait_ready, 60)
        await eventually(lambda: len(receiver.sequences(cast.partnership_id)) == 60, within=120)
    assert receiver.bad_signatures == 0
    assert receiver.sequences(cast.partnership_id) == list(range(1, 61))


@dataclass(frozen=True)
class Failing:
    cast: Cast
    subscription_id: str


@pytest.fixture(scope="module", autouse=True)
async def failing(short_platform: Platform) -> AsyncIterator[Failing]:
    """A subscription whose receiver never accepts, made as the module starts: the retry window (20 s, the
    platform's, which the kill test needs that long) then runs while the module's other tests do, rather
    than after them. Run alone, the test below waits out the whole window."""
    cast = await make_cast(short_platform)
    async with (
        new_client(base_url=short_platform.url("outcomes"), timeout=30) as outcomes,
        Receiver(fail_first=10**9).running() as receiver,
        ledger_engine(short_platform) as engine,
    ):
        created = await subscribe(outcomes, cast.investor, cast.partnership_id, receiver.url)
        await write_events(engine, cast.partnership_id, 1)
        yield Failing(cast, created["id"])


async def test_a_subscription_failing_past_the_retry_window_is_disabled_with_the_reason(
    short_platform: Platform, failing: Failing
) -> None:
    cast = failing.cast
    async with new_client(base_url=short_platform.url("outcomes"), timeout=30) as outcomes:
        path = f"/v1/webhook-subscriptions/{failing.subscription_id}"
        state: dict[str, object] = {}

        async def disabled() -> bool:
            state.update((await outcomes.get(path, headers=cast.investor.headers)).json())
            return state["status"] == "disabled"

        for _ in range(300):
            if await disabled():
                break
            await asyncio.sleep(0.2)
        log = (await outcomes.get(f"{path}/deliveries", headers=cast.investor.headers)).json()["items"]
    assert state["status"] == "disabled"
    assert "HTTP 503" in str(state["disabled_reason"])
    assert [d["status"] for d in log] == ["failed"]
    assert log[0]["attempts"] > 1
