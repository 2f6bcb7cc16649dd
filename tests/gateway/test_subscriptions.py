"""Ledger events over `graphql-transport-ws`: the socket authenticates in `connection_init`, events arrive
as they are chained, shaped by the subscriber's schema variant, and only for its partnerships."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from gateway.hardening import DomainError
from gateway.subscriptions import ensure_still_allowed
from kit.auth import Principal
from tests.gateway.support import gid
from tests.outcomes.support import TODAY, active_contract, employment_terms, enrol

SUBSCRIBE = """
subscription($id: ID!, $after: Int!) {
  ledgerEvents(partnershipId: $id, afterSequence: $after) { sequence type %s }
}
"""
WAIT = 30.0  # an upper bound for a poll cycle on a loaded machine, not a timing assertion


@pytest.fixture(scope="module")
async def enrolled(platform: Platform, shared_cast: Cast) -> tuple[Cast, UUID]:
    cast = shared_cast
    async with (
        new_client(base_url=platform.url("contracts"), timeout=30) as contracts,
        new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
        await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(1),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=3),
        )
    return cast, contract_id


@asynccontextmanager
async def _socket(platform: Platform, actor: Actor | None) -> AsyncIterator[ClientConnection]:
    url = platform.url("gateway").replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {actor.token}"} if actor else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield ws


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return message


async def _subscribe(ws: ClientConnection, cast: Cast, fields: str, after: int = 0) -> None:
    ack = await _receive(ws)
    assert ack["type"] == "connection_ack", ack
    variables = {"id": gid("Partnership", cast.partnership_id), "after": after}
    payload = {"query": SUBSCRIBE % fields, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def test_a_socket_without_a_valid_token_is_closed_before_any_operation(platform: Platform) -> None:
    for actor in (None, Actor(organisation_id=UUID(int=0), partner_type="provider", token="not-a-jwt")):
        async with _socket(platform, actor) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await _receive(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403


async def test_a_provider_receives_past_and_new_events_with_the_participant(
    platform: Platform, enrolled: tuple[Cast, UUID]
) -> None:
    cast, contract_id = enrolled
    async with _socket(platform, cast.provider) as ws:
        await _subscribe(ws, cast, "participantId")
        first = await _receive(ws)
        assert first["type"] == "next", first
        event = first["payload"]["data"]["ledgerEvents"]
        assert event["sequence"] == 1
        seen = [event]
        while seen[-1]["type"] != "dk.effekt.participant.enrolled":
            seen.append((await _receive(ws))["payload"]["data"]["ledgerEvents"])
        assert seen[-1]["participantId"]
        # A new event arrives without asking again.
        async with new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes:
            created = await enrol(
                outcomes,
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(2),
                municipality_code="791",
                enrolment_date=TODAY - timedelta(days=2),
            )
        while True:
            event = (await _receive(ws))["payload"]["data"]["ledgerEvents"]
            if event["participantId"] == created["id"]:
                break
        assert event["type"] == "dk.effekt.participant.enrolled"


async def test_an_investor_stream_carries_no_participant_field(
    platform: Platform, enrolled: tuple[Cast, UUID]
) -> None:
    cast, _ = enrolled
    async with _socket(platform, cast.investor) as ws:
        await _subscribe(ws, cast, "participantId")
        refused = await _receive(ws)
        assert refused["type"] == "error", refused
        assert "participantId" in refused["payload"][0]["message"]
    async with _socket(platform, cast.investor) as ws:
        await _subscribe(ws, cast, "hash")
        event = (await _receive(ws))["payload"]["data"]["ledgerEvents"]
        assert set(event) == {"sequence", "type", "hash"}


async def test_an_outsider_cannot_follow_another_partnerships_ledger(
    platform: Platform, enrolled: tuple[Cast, UUID]
) -> None:
    cast, _ = enrolled
    async with _socket(platform, cast.outsider) as ws:
        await _subscribe(ws, cast, "hash")
        message = await _receive(ws)
        assert message["type"] in ("next", "error"), message
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert errors[0]["extensions"]["code"] == "not-a-partner"


def _principal(*, expires_in: int, member_of: UUID | None, partner_type: str = "provider") -> Principal:
    return Principal(
        subject=str(UUID(int=7)),
        kind="user",
        organisation_id=UUID(int=8),
        partner_type=partner_type,
        scopes=frozenset({"outcomes:read"}),
        memberships={member_of: frozenset({"provider"})} if member_of else {},
        expires_at=int(time.time()) + expires_in,
    )


def test_each_event_is_sent_only_while_the_token_is_valid_and_a_member() -> None:
    partnership = UUID(int=9)
    allowed = SimpleNamespace(principal=_principal(expires_in=600, member_of=partnership))
    ensure_still_allowed(allowed, partnership)  # type: ignore[arg-type]
    expired = SimpleNamespace(principal=_principal(expires_in=-1, member_of=partnership))
    with pytest.raises(DomainError) as refused:
        ensure_still_allowed(expired, partnership)  # type: ignore[arg-type]
    assert refused.value.code == "token-expired"
    stranger = SimpleNamespace(principal=_principal(expires_in=600, member_of=UUID(int=10)))
    with pytest.raises(DomainError) as refused:
        ensure_still_allowed(stranger, partnership)  # type: ignore[arg-type]
    assert refused.value.code == "not-a-partner"
    operator = SimpleNamespace(principal=_principal(expires_in=600, member_of=None, partner_type="operator"))
    ensure_still_allowed(operator, partnership)  # type: ignore[arg-type]
