"""Webhook subscriptions through the gateway: created with the secret shown once, listed on `me` with
their delivery log, disabled only at the version read, redelivered; another organisation cannot see or
change them, and operators (excluded by gateway/policy.py) do not even see the fields."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from gateway import policy
from tests.gateway.support import gid, gql
from tests.outcomes.integrations.support import Receiver, eventually, ledger_engine, write_events

CREATE = """
mutation($input: CreateWebhookSubscriptionInput!, $key: String) {
  createWebhookSubscription(input: $input, idempotencyKey: $key) {
    __typename
    ... on CreatedWebhookSubscription { secret subscription { id status version audience url } }
    ... on MutationError { code message }
    ... on InvalidInput { fields { field reason } }
  }
}
"""
LIST = """
{ me { webhookSubscriptions { totalCount nodes {
    id partnershipId status version disabledReason
    deliveries(first: 10) { edges { cursor node { id status eventType sequence attempts } } }
} } } }
"""
UPDATE = """
mutation($id: ID!, $status: WebhookStatus, $version: Int!) {
  updateWebhookSubscription(subscriptionId: $id, input: {status: $status}, expectedVersion: $version) {
    __typename
    ... on WebhookSubscription { id status version disabledReason disabledAt }
    ... on MutationError { code message }
  }
}
"""
REDELIVER = """
mutation($s: ID!, $d: UUID!) {
  redeliverWebhook(subscriptionId: $s, deliveryId: $d) {
    __typename
    ... on WebhookDelivery { id status }
    ... on MutationError { code message }
  }
}
"""


async def _create(gateway: httpx.AsyncClient, actor: Actor, cast: Cast, url: str) -> dict[str, Any]:
    variables = {"input": {"partnershipId": gid("Partnership", cast.partnership_id), "url": url}}
    result: dict[str, Any] = (await gql(gateway, actor, CREATE, variables))["data"][
        "createWebhookSubscription"
    ]
    return result


async def _listed(gateway: httpx.AsyncClient, actor: Actor) -> dict[str, dict[str, Any]]:
    body = await gql(gateway, actor, LIST)
    assert "errors" not in body, body
    return {n["id"]: n for n in body["data"]["me"]["webhookSubscriptions"]["nodes"]}


async def test_a_subscription_is_created_listed_disabled_at_its_version_and_redelivered(
    platform: Platform, gateway: httpx.AsyncClient, cast: Cast
) -> None:
    async with Receiver().running() as receiver, ledger_engine(platform) as engine:
        created = await _create(gateway, cast.investor, cast, receiver.url)
        assert created["__typename"] == "CreatedWebhookSubscription", created
        assert created["secret"].startswith("whsec_")
        receiver.secret = created["secret"]
        subscription = created["subscription"]
        assert (subscription["status"], subscription["audience"]) == ("ACTIVE", "INVESTOR")
        sid = subscription["id"]

        listed = await _listed(gateway, cast.investor)
        assert listed[sid]["status"] == "ACTIVE"
        assert listed[sid]["deliveries"]["edges"] == []
        shown = await gql(
            gateway, cast.investor, "{ me { webhookSubscriptions { nodes { secret } } } }", status=400
        )
        assert "secret" in shown["errors"][0]["message"]  # the secret is never readable again

        await write_events(engine, cast.partnership_id, 1, tag="gw")
        await eventually(lambda: len(receiver.received) == 1)
        delivery: dict[str, Any] = {}
        for _ in range(100):  # the receiver answered; the log records it right after
            edges = (await _listed(gateway, cast.investor))[sid]["deliveries"]["edges"]
            if edges and edges[0]["node"]["status"] == "DELIVERED":
                delivery = edges[0]["node"]
                break
            await asyncio.sleep(0.1)
        assert delivery, "the delivery was never logged as delivered"
        assert delivery["id"] in receiver.received
        assert (delivery["eventType"], delivery["sequence"]) == ("dk.effekt.test.written", 1)

        version = subscription["version"]
        stale = await gql(
            gateway, cast.investor, UPDATE, {"id": sid, "status": "DISABLED", "version": version + 5}
        )
        assert stale["data"]["updateWebhookSubscription"]["__typename"] == "Conflict", stale
        assert (await _listed(gateway, cast.investor))[sid]["status"] == "ACTIVE"  # nothing changed
        disabled = (
            await gql(gateway, cast.investor, UPDATE, {"id": sid, "status": "DISABLED", "version": version})
        )["data"]["updateWebhookSubscription"]
        assert disabled["__typename"] == "WebhookSubscription", disabled
        assert (disabled["status"], disabled["version"]) == ("DISABLED", version + 1)
        assert disabled["disabledReason"]
        assert disabled["disabledAt"]

        again = (await gql(gateway, cast.investor, REDELIVER, {"s": sid, "d": delivery["id"]}))["data"]
        assert again["redeliverWebhook"] == {
            "__typename": "WebhookDelivery",
            "id": delivery["id"],
            "status": "PENDING",
        }
        enabled = (
            await gql(gateway, cast.investor, UPDATE, {"id": sid, "status": "ACTIVE", "version": version + 1})
        )["data"]["updateWebhookSubscription"]
        assert (enabled["status"], enabled["disabledReason"]) == ("ACTIVE", None), enabled
        await eventually(lambda: receiver.requests == 2)  # sent again, under the same webhook-id
    assert list(receiver.received) == [delivery["id"]]
    assert receiver.bad_signatures == 0


async def test_a_retry_with_the_same_idempotency_key_creates_one_subscription(
    gateway: httpx.AsyncClient, cast: Cast
) -> None:
    variables = {
        "input": {
            "partnershipId": gid("Partnership", cast.partnership_id),
            "url": "https://hooks.example.org/effekt",
        },
        "key": secrets.token_hex(8),
    }
    first = (await gql(gateway, cast.provider, CREATE, variables))["data"]["createWebhookSubscription"]
    again = (await gql(gateway, cast.provider, CREATE, variables))["data"]["createWebhookSubscription"]
    assert first["__typename"] == "CreatedWebhookSubscription", first
    assert again["subscription"]["id"] == first["subscription"]["id"]
    assert list(await _listed(gateway, cast.provider)) == [first["subscription"]["id"]]


async def test_a_bad_url_is_invalid_input_naming_the_field_and_creates_nothing(
    gateway: httpx.AsyncClient, cast: Cast
) -> None:
    result = await _create(gateway, cast.evaluator, cast, "ftp://hooks.example.org/effekt")
    assert result["__typename"] == "InvalidInput", result
    assert [f["field"] for f in result["fields"]] == ["input.url"]
    assert await _listed(gateway, cast.evaluator) == {}


async def test_a_partnership_the_organisation_is_not_in_cannot_be_subscribed_to(
    gateway: httpx.AsyncClient, cast: Cast
) -> None:
    result = await _create(gateway, cast.outsider, cast, "https://hooks.example.org/effekt")
    assert result["__typename"] == "NotPermitted", result
    assert await _listed(gateway, cast.outsider) == {}


async def test_another_organisation_can_neither_see_nor_change_a_subscription(
    gateway: httpx.AsyncClient, cast: Cast
) -> None:
    created = await _create(gateway, cast.investor, cast, "https://hooks.example.org/investor")
    assert created["__typename"] == "CreatedWebhookSubscription", created
    sid, version = created["subscription"]["id"], created["subscription"]["version"]
    for other in (cast.provider, cast.payer_a, cast.outsider):
        assert sid not in await _listed(gateway, other)
        changed = await gql(gateway, other, UPDATE, {"id": sid, "status": "DISABLED", "version": version})
        assert changed["data"]["updateWebhookSubscription"]["__typename"] == "NotFound", changed
        redelivered = await gql(gateway, other, REDELIVER, {"s": sid, "d": str(uuid.uuid4())})
        assert redelivered["data"]["redeliverWebhook"]["__typename"] == "NotFound", redelivered
    mine = await _listed(gateway, cast.investor)
    assert (mine[sid]["status"], mine[sid]["version"]) == ("ACTIVE", version)


async def test_operators_do_not_even_see_the_webhook_fields(gateway: httpx.AsyncClient, cast: Cast) -> None:
    assert "operator" not in policy.WEBHOOKS  # the policy this test relies on
    listed = await gql(gateway, cast.operator, LIST, status=400)
    assert "webhookSubscriptions" in listed["errors"][0]["message"]
    assert "data" not in listed
    created = await gql(
        gateway,
        cast.operator,
        CREATE,
        {
            "input": {
                "partnershipId": gid("Partnership", cast.partnership_id),
                "url": "https://hooks.example.org/x",
            }
        },
        status=400,
    )
    assert "data" not in created
    types = await gql(
        gateway, cast.operator, "{ __schema { types { name } mutationType { fields { name } } } }"
    )
    names = {t["name"] for t in types["data"]["__schema"]["types"]}
    mutations = {f["name"] for f in types["data"]["__schema"]["mutationType"]["fields"]}
    assert not [n for n in names | mutations if "webhook" in n.lower()]
    # A partner type the policy includes sees them.
    assert await _listed(gateway, cast.adviser) == {}


ROTATE = """
mutation($id: ID!, $version: Int!, $grace: Int!, $key: String) {
  rotateWebhookSecret(
    subscriptionId: $id, expectedVersion: $version, previousSecretValidFor: $grace, idempotencyKey: $key
  ) {
    __typename
    ... on RotatedWebhookSecret { secret subscription { id version previousSecretExpiresAt } }
    ... on MutationError { code message }
  }
}
"""
DELETE = """
mutation($id: ID!) {
  deleteWebhookSubscription(subscriptionId: $id) {
    __typename
    ... on Done { ok }
    ... on MutationError { code message }
  }
}
"""


async def test_a_rotated_secret_signs_deliveries_beside_the_old_one_for_the_grace_asked(
    platform: Platform, gateway: httpx.AsyncClient, cast: Cast
) -> None:
    async with Receiver().running() as receiver, ledger_engine(platform) as engine:
        created = await _create(gateway, cast.provider, cast, receiver.url)
        assert created["__typename"] == "CreatedWebhookSubscription", created
        sid, version = created["subscription"]["id"], created["subscription"]["version"]

        stale = await gql(gateway, cast.provider, ROTATE, {"id": sid, "version": version + 1, "grace": 60})
        assert stale["data"]["rotateWebhookSecret"]["__typename"] == "Conflict", stale
        bad = await gql(gateway, cast.provider, ROTATE, {"id": sid, "version": version, "grace": -1})
        assert bad["data"]["rotateWebhookSecret"]["__typename"] == "InvalidInput", bad

        variables = {"id": sid, "version": version, "grace": 3600, "key": secrets.token_hex(8)}
        rotated = (await gql(gateway, cast.provider, ROTATE, variables))["data"]["rotateWebhookSecret"]
        assert rotated["__typename"] == "RotatedWebhookSecret", rotated
        replayed = (await gql(gateway, cast.provider, ROTATE, variables))["data"]["rotateWebhookSecret"]
        assert replayed == rotated  # the same key replays the same secret, rotating once
        assert rotated["secret"].startswith("whsec_")
        assert rotated["secret"] != created["secret"]
        assert rotated["subscription"]["version"] == version + 1
        assert rotated["subscription"]["previousSecretExpiresAt"]

        receiver.secret = created["secret"]  # a receiver not yet switched still verifies
        await write_events(engine, cast.partnership_id, 1, tag="rotation")
        await eventually(lambda: len(receiver.received) == 1)
        receiver.secret = rotated["secret"]  # and one that switched verifies too
        await write_events(engine, cast.partnership_id, 1, tag="rotation")
        await eventually(lambda: len(receiver.received) == 2)
        assert receiver.bad_signatures == 0


async def test_only_the_owning_organisation_rotates_or_deletes_a_subscription(
    gateway: httpx.AsyncClient, cast: Cast
) -> None:
    created = await _create(gateway, cast.investor, cast, "https://hooks.example.org/investor")
    assert created["__typename"] == "CreatedWebhookSubscription", created
    sid, version = created["subscription"]["id"], created["subscription"]["version"]
    for other in (cast.provider, cast.payer_a, cast.outsider):
        rotated = await gql(gateway, other, ROTATE, {"id": sid, "version": version, "grace": 0})
        assert rotated["data"]["rotateWebhookSecret"]["__typename"] == "NotFound", rotated
        deleted = await gql(gateway, other, DELETE, {"id": sid})
        assert deleted["data"]["deleteWebhookSubscription"]["__typename"] == "NotFound", deleted
    assert (await _listed(gateway, cast.investor))[sid]["version"] == version  # nothing changed

    deleted = await gql(gateway, cast.investor, DELETE, {"id": sid})
    assert deleted["data"]["deleteWebhookSubscription"] == {"__typename": "Done", "ok": True}
    assert await _listed(gateway, cast.investor) == {}
    again = await gql(gateway, cast.investor, DELETE, {"id": sid})
    assert again["data"]["deleteWebhookSubscription"]["__typename"] == "NotFound", again
