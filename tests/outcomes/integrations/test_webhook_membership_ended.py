"""An organisation whose partnership membership is removed, or whose role there changes, stops getting that
partnership's webhooks: its subscriptions there are disabled (pending deliveries kept) with the reason,
until a current token confirms the membership. A change elsewhere leaves them delivering."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, token_for
from effekt.sandbox.directory import add_membership, operator_headers, remove_membership
from effekt.sandbox.http import new_client
from effekt.sandbox.signin import bearer
from tests.outcomes.integrations.support import Receiver, eventually, ledger_engine, subscribe, write_events

# Generous: revocation lists are polled every 0.5 s here; this only bounds how long a broken build fails.
DEADLINE = 20.0


async def subscription(outcomes: httpx.AsyncClient, token: str, subscription_id: str) -> dict[str, Any]:
    response = await outcomes.get(f"/v1/webhook-subscriptions/{subscription_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def disabled_within(outcomes: httpx.AsyncClient, token: str, subscription_id: str) -> dict[str, Any]:
    started = time.monotonic()
    while (found := await subscription(outcomes, token, subscription_id))["status"] != "disabled":
        assert time.monotonic() - started < DEADLINE, "still active long after the membership changed"
        await asyncio.sleep(0.1)
    return found


async def deliveries(outcomes: httpx.AsyncClient, token: str, subscription_id: str) -> list[dict[str, Any]]:
    response = await outcomes.get(
        f"/v1/webhook-subscriptions/{subscription_id}/deliveries",
        params={"limit": 500},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def reenable(outcomes: httpx.AsyncClient, token: str, subscription_id: str) -> httpx.Response:
    return await outcomes.patch(
        f"/v1/webhook-subscriptions/{subscription_id}", json={"status": "active"}, headers=bearer(token)
    )


async def test_a_removed_organisations_subscription_is_disabled_and_gets_nothing_more(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    investor: Actor = cast.investor
    async with (
        Receiver().running() as removed_hook,
        Receiver().running() as staying_hook,
        ledger_engine(platform) as engine,
    ):
        removed = await subscribe(outcomes, investor, cast.partnership_id, removed_hook.url)
        staying = await subscribe(outcomes, cast.evaluator, cast.partnership_id, staying_hook.url)
        removed_hook.secret, staying_hook.secret = removed["secret"], staying["secret"]
        await write_events(engine, cast.partnership_id, 2)
        await eventually(lambda: len(removed_hook.received) == 2 and len(staying_hook.received) == 2)
        # The investor's receiver is down for a while: its next deliveries stay pending.
        removed_hook.fail_first = 10**6
        await write_events(engine, cast.partnership_id, 2, tag="pending")
        await eventually(lambda: len(staying_hook.received) == 4)

        await remove_membership(platform, cast.partnership_id, investor.organisation_id)
        fresh = await token_for(platform, investor)
        shown = await disabled_within(outcomes, fresh, removed["id"])
        assert shown["disabled_reason"] == "the organisation is no longer a partner in this partnership"
        removed_hook.fail_first = 0  # it is back, and still gets nothing
        await write_events(engine, cast.partnership_id, 3, tag="after")
        await eventually(lambda: len(staying_hook.received) == 7)
        await asyncio.sleep(3)  # several dispatcher rounds and retry back-offs
        assert removed_hook.sequences(cast.partnership_id) == [1, 2]
        log = await deliveries(outcomes, fresh, removed["id"])
        # The two written while it was down are kept pending; none was written for it after it was disabled.
        assert sorted((d["sequence"], d["status"]) for d in log) == [
            (1, "delivered"),
            (2, "delivered"),
            (3, "pending"),
            (4, "pending"),
        ]
        refused = await reenable(outcomes, fresh, removed["id"])
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "not-a-partner"
        assert (await subscription(outcomes, fresh, removed["id"]))["status"] == "disabled"
    assert staying_hook.sequences(cast.partnership_id) == list(range(1, 8))
    assert (await subscription(outcomes, cast.evaluator.token, staying["id"]))["status"] == "active"


async def test_a_membership_change_in_another_partnership_leaves_the_subscription_delivering(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    """Identity lists the organisation's memberships with its new epoch, so the subscription is re-confirmed
    under it: what was pending is delivered and what follows too, without anyone re-enabling it."""
    investor: Actor = cast.investor
    async with new_client(base_url=platform.url("identity")) as identity:
        other = await identity.post(
            "/v1/partnerships",
            json={"name": f"Other {cast.partnership_id}"},
            headers=await operator_headers(platform),
        )
        assert other.status_code == 201, other.text
    other_id = UUID(other.json()["id"])
    await add_membership(platform, other_id, investor.organisation_id, "investor")
    async with Receiver().running() as hook, ledger_engine(platform) as engine:
        created = await subscribe(outcomes, investor, cast.partnership_id, hook.url)
        hook.secret = created["secret"]
        hook.fail_first = 10**6
        await write_events(engine, cast.partnership_id, 2)
        await eventually(lambda: hook.requests >= 1)

        await remove_membership(platform, other_id, investor.organisation_id)
        fresh = await token_for(platform, investor)
        # The epoch the change left behind is on the subscription once it is settled.
        started = time.monotonic()
        while (shown := await subscription(outcomes, fresh, created["id"]))["version"] == created["version"]:
            assert time.monotonic() - started < DEADLINE, "not settled long after the membership changed"
            await asyncio.sleep(0.1)
        assert shown["status"] == "active", shown
        assert shown["disabled_reason"] is None
        hook.fail_first = 0
        await eventually(lambda: hook.sequences(cast.partnership_id) == [1, 2], within=DEADLINE * 3)
        await write_events(engine, cast.partnership_id, 1, tag="later")
        await eventually(lambda: hook.sequences(cast.partnership_id) == [1, 2, 3], within=DEADLINE)
    assert (await subscription(outcomes, fresh, created["id"]))["status"] == "active"


async def test_a_role_change_disables_the_subscription_until_the_new_role_is_confirmed(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    """An investor made an observer would receive events as an observer: that is asked, not assumed."""
    investor: Actor = cast.investor
    async with Receiver().running() as hook, ledger_engine(platform) as engine:
        created = await subscribe(outcomes, investor, cast.partnership_id, hook.url)
        hook.secret = created["secret"]
        await add_membership(platform, cast.partnership_id, investor.organisation_id, "observer")
        await remove_membership(platform, cast.partnership_id, investor.organisation_id, role="investor")
        fresh = await token_for(platform, investor)
        shown = await disabled_within(outcomes, fresh, created["id"])
        assert "role in this partnership changed" in shown["disabled_reason"]
        assert "as observer, not investor" in shown["disabled_reason"]
        enabled = await reenable(outcomes, fresh, created["id"])
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["audience"] == "observer"
        await write_events(engine, cast.partnership_id, 1)
        await eventually(lambda: hook.sequences(cast.partnership_id) == [1], within=DEADLINE * 3)
