"""Webhooks on the shared platform: signed per Standard Webhooks and verified by its package, retried until
a failing receiver recovers, logged per subscription, redeliverable, and managed per organisation."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from services.outcomes.webhooks.ssrf import UnsafeTarget, check_resolved, check_url
from tests.outcomes.integrations.support import Receiver, eventually, ledger_engine, subscribe, write_events
from tests.outcomes.support import TODAY, active_contract, employment_terms, enrol
from tests.outcomes.test_privacy import outcomes_dsn


async def deliveries(outcomes: httpx.AsyncClient, cast: Cast, subscription_id: str) -> list[dict[str, Any]]:
    response = await outcomes.get(
        f"/v1/webhook-subscriptions/{subscription_id}/deliveries",
        params={"limit": 500},
        headers=cast.investor.headers,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled_deliveries(
    outcomes: httpx.AsyncClient, cast: Cast, subscription_id: str
) -> list[dict[str, Any]]:
    """The log once no delivery is pending: a receiver has an event before the dispatcher records its 2xx."""
    for _ in range(100):
        log = await deliveries(outcomes, cast, subscription_id)
        if all(d["status"] != "pending" for d in log):
            break
        await asyncio.sleep(0.1)
    return log


async def test_every_delivery_verifies_with_the_standardwebhooks_package(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    async with Receiver().running() as receiver, ledger_engine(platform) as engine:
        created = await subscribe(outcomes, cast.investor, cast.partnership_id, receiver.url)
        receiver.secret = created["secret"]
        assert created["secret"].startswith("whsec_")
        await write_events(engine, cast.partnership_id, 30)
        await eventually(lambda: len(receiver.received) == 30)
    assert receiver.bad_signatures == 0
    assert receiver.sequences(cast.partnership_id) == list(range(1, 31))
    log = await settled_deliveries(outcomes, cast, created["id"])
    assert {d["status"] for d in log} == {"delivered"}
    assert {d["id"] for d in log} == set(receiver.received)
    shown = await outcomes.get(f"/v1/webhook-subscriptions/{created['id']}", headers=cast.investor.headers)
    assert "secret" not in shown.json()


async def test_a_receiver_that_fails_for_a_while_gets_every_event_after_it_recovers(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    async with Receiver(fail_first=25).running() as receiver, ledger_engine(platform) as engine:
        created = await subscribe(outcomes, cast.investor, cast.partnership_id, receiver.url)
        receiver.secret = created["secret"]
        await write_events(engine, cast.partnership_id, 20)
        await eventually(lambda: len(receiver.received) == 20, within=120)
    assert receiver.sequences(cast.partnership_id) == list(range(1, 21))
    log = await settled_deliveries(outcomes, cast, created["id"])
    assert {d["status"] for d in log} == {"delivered"}
    assert sum(d["attempts"] for d in log) >= 20 + 25


async def test_a_delivery_can_be_sent_again_and_only_wanted_types_are_sent(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    async with Receiver().running() as receiver, ledger_engine(platform) as engine:
        created = await subscribe(
            outcomes, cast.investor, cast.partnership_id, receiver.url, event_types=["dk.effekt.test.written"]
        )
        other = await subscribe(
            outcomes,
            cast.investor,
            cast.partnership_id,
            receiver.url,
            event_types=["dk.effekt.claim.verified"],
        )
        receiver.secret = created["secret"]
        await write_events(engine, cast.partnership_id, 2)
        await eventually(lambda: len(receiver.received) == 2)
        first = (await deliveries(outcomes, cast, created["id"]))[0]
        again = await outcomes.post(
            f"/v1/webhook-subscriptions/{created['id']}/deliveries/{first['id']}/redelivery",
            headers=cast.investor.headers,
        )
        assert again.status_code == 200, again.text
        before = receiver.requests
        await eventually(lambda: receiver.requests > before)
    assert first["id"] in receiver.received
    assert await deliveries(outcomes, cast, other["id"]) == []


async def test_subscriptions_belong_to_their_organisation_and_are_validated(
    cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    created = await subscribe(outcomes, cast.investor, cast.partnership_id, "https://example.org/hook")
    path = f"/v1/webhook-subscriptions/{created['id']}"
    assert (await outcomes.get(path, headers=cast.provider.headers)).status_code == 404
    listed = await outcomes.get("/v1/webhook-subscriptions", headers=cast.provider.headers)
    assert created["id"] not in {s["id"] for s in listed.json()["items"]}
    outsider = await outcomes.post(
        "/v1/webhook-subscriptions",
        json={"partnership_id": str(cast.partnership_id), "url": "https://example.org/hook"},
        headers=cast.outsider.headers,
    )
    assert outsider.status_code == 403
    bad_url = await outcomes.post(
        "/v1/webhook-subscriptions",
        json={"partnership_id": str(cast.partnership_id), "url": "ftp://example.org/x"},
        headers={**cast.investor.headers, "Idempotency-Key": uuid4().hex},
    )
    assert bad_url.status_code == 422
    assert bad_url.json()["invalid_params"][0]["name"] == "url"
    disabled = await outcomes.patch(
        path, json={"status": "disabled"}, headers={**cast.investor.headers, "If-Match": '"1"'}
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["status"] == "disabled"
    assert disabled.json()["disabled_reason"]
    stale = await outcomes.patch(
        path, json={"status": "active"}, headers={**cast.investor.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (await outcomes.delete(path, headers=cast.investor.headers)).status_code == 204
    assert (await outcomes.get(path, headers=cast.investor.headers)).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
    ],
)
async def test_production_never_delivers_to_private_addresses(url: str) -> None:
    check_url(url, allow_insecure=False)
    with pytest.raises(UnsafeTarget):
        await check_resolved(url, allow_private=False)


def test_production_requires_https_without_credentials() -> None:
    for url in ("http://example.org/hook", "https://user:pw@example.org/hook", "example.org/hook"):
        with pytest.raises(UnsafeTarget):
            check_url(url, allow_insecure=False)
    check_url("http://127.0.0.1:8080/hook", allow_insecure=True)


async def test_webhook_deliveries_are_redacted_like_the_feed(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    async with Receiver().running() as for_investor, Receiver().running() as for_evaluator:
        investor = await subscribe(outcomes, cast.investor, cast.partnership_id, for_investor.url)
        evaluator = await subscribe(outcomes, cast.evaluator, cast.partnership_id, for_evaluator.url)
        for_investor.secret, for_evaluator.secret = investor["secret"], evaluator["secret"]
        assert (investor["audience"], evaluator["audience"]) == ("investor", "evaluator")
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(3),
            municipality_code="791",
            enrolment_date=TODAY - timedelta(days=5),
        )
        await eventually(lambda: len(for_investor.received) == 1 and len(for_evaluator.received) == 1)
    connection = await asyncpg.connect(outcomes_dsn(platform))
    try:
        pseudonym = await connection.fetchval(
            "SELECT pseudonym FROM participants WHERE id = $1", person["id"]
        )
    finally:
        await connection.close()
    (to_investor,) = for_investor.received.values()
    (to_evaluator,) = for_evaluator.received.values()
    assert pseudonym not in json.dumps(to_investor)
    assert to_evaluator["pseudonym"] == pseudonym
    # The investor's delivery is the same event sealed: its place in the chain, nothing of the person.
    assert person["id"] not in json.dumps(to_investor)
    assert to_evaluator["data"]["participant_id"] == person["id"]
    assert to_investor["type"] == "dk.effekt.ledger.sealed"
    same = ("id", "sequence", "ledgerhash", "ledgerprevhash", "partnershipid")
    assert {k: to_investor[k] for k in same} == {k: to_evaluator[k] for k in same}
