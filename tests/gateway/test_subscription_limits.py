"""Live ledger subscriptions at scale, over a real `graphql-transport-ws` socket to a gateway with small
limits (its own, in this process, against the platform's services): the outcome service serves as many
ledger reads for many subscribers of a partnership as for one (its /metrics counts them); each of them
receives every event in order, one joining mid-flow too; one subscription over the limits per socket or
per caller is refused alone and the slot frees when a subscription completes or its socket drops; a
revoked token's stream ends while the others sharing its reader go on."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from gateway.app import create_app
from gateway.settings import Settings
from tests.actors import Actor, Cast
from tests.gateway.support import gid
from tests.outcomes.support import TODAY, active_contract, employment_terms, enrol
from tests.platform import free_port

PER_SOCKET = 4
PER_CALLER = 6
POLL = 0.25
WAIT = 30.0  # an upper bound for a message on a loaded machine, not a timing assertion
LEDGER_READS = 'route="/v1/partnerships/{partnership_id}/ledger"'
SUBSCRIBE = """
subscription($id: ID!, $after: Int!) {
  ledgerEvents(partnershipId: $id, afterSequence: $after) { sequence %s }
}
"""


@dataclass
class World:
    cast: Cast
    contract_id: UUID
    gateway: str  # host:port of this module's gateway
    enrolled: int = 0


@pytest.fixture(scope="module")
async def world(platform: Platform, shared_cast: Cast) -> AsyncIterator[World]:
    """A partnership with a few events, and a gateway of its own with small limits and a quick poll."""
    cast = shared_cast
    async with new_client(base_url=platform.url("contracts"), timeout=30) as contracts:
        contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    configured = {
        k.removeprefix("GATEWAY_").lower(): v for k, v in platform.env.items() if k.startswith("GATEWAY_")
    }
    settings = Settings.model_validate(
        {
            **configured,
            "log_json": False,
            "log_level": "WARNING",
            "ledger_poll_seconds": POLL,
            "subscriptions_per_socket": PER_SOCKET,
            "subscriptions_per_caller": PER_CALLER,
        }
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server offers a flag, not an event
        await asyncio.sleep(0.05)
    world = World(cast, contract_id, f"127.0.0.1:{port}")
    await add_events(platform, world, 3)
    yield world
    server.should_exit = True
    await task


async def add_events(platform: Platform, world: World, count: int) -> int:
    """Enrol `count` participants (an event each); the ledger's last sequence then."""
    async with new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes:
        for _ in range(count):
            world.enrolled += 1
            await enrol(
                outcomes,
                world.cast.provider,
                world.cast,
                world.contract_id,
                synthetic_cpr(world.enrolled),
                municipality_code="657",
                enrolment_date=TODAY - timedelta(days=3),
            )
        return await last_sequence(outcomes, world.cast)


async def last_sequence(outcomes: httpx.AsyncClient, cast: Cast) -> int:
    answer = await outcomes.get(
        f"/v1/partnerships/{cast.partnership_id}/ledger", params={"limit": 500}, headers=cast.provider.headers
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["items"][-1]["sequence"])


async def ledger_reads(platform: Platform) -> int:
    """Ledger pages the outcome service has served, all callers together (its Prometheus counter)."""
    async with new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes:
        text = (await outcomes.get("/metrics")).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("effekt_http_request_duration_seconds_count{") and LEDGER_READS in line
    )


class Socket:
    """One graphql-transport-ws connection; the messages it receives, sorted by subscription id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.inbox: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                self.inbox[str(message.get("id", ""))].put_nowait(message)
        except websockets.ConnectionClosed:
            pass

    async def subscribe(self, id: str, partnership_id: UUID, *, after: int = 0, fields: str = "") -> None:
        payload = {
            "query": SUBSCRIBE % fields,
            "variables": {"id": gid("Partnership", partnership_id), "after": after},
        }
        await self.ws.send(json.dumps({"id": id, "type": "subscribe", "payload": payload}))

    async def complete(self, id: str) -> None:
        await self.ws.send(json.dumps({"id": id, "type": "complete"}))

    async def message(self, id: str) -> dict[str, Any]:
        return await asyncio.wait_for(self.inbox[id].get(), WAIT)

    async def events(self, id: str, until: int) -> list[dict[str, Any]]:
        """The events subscription `id` receives up to sequence `until`; any other message fails."""
        events: list[dict[str, Any]] = []
        while not events or events[-1]["sequence"] < until:
            message = await self.message(id)
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            events.append(message["payload"]["data"]["ledgerEvents"])
        return events

    def stop_reading(self) -> None:
        self._reader.cancel()

    def abort(self) -> None:
        """Drop the connection without a close handshake, as a client that vanishes does."""
        self.ws.transport.abort()


@asynccontextmanager
async def connected(world: World, actor: Actor) -> AsyncIterator[Socket]:
    async with websockets.connect(
        f"ws://{world.gateway}/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {actor.token}"}})
        )
        ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert ack["type"] == "connection_ack", ack
        socket = Socket(ws)
        try:
            yield socket
        finally:
            socket.stop_reading()


def refused(message: dict[str, Any], per: str) -> None:
    assert message["type"] == "error", message
    extensions = message["payload"][0]["extensions"]
    assert extensions["code"] == "too-many-subscriptions", message
    assert extensions["per"] == per
    assert extensions["limit"] == (PER_SOCKET if per == "socket" else PER_CALLER)


def sequences(events: list[dict[str, Any]]) -> list[int]:
    return [event["sequence"] for event in events]


async def test_many_subscribers_of_a_partnership_cost_the_outcome_service_the_reads_of_one(
    platform: Platform, world: World
) -> None:
    cast = world.cast
    last = await add_events(platform, world, 0)
    window = 10 * POLL

    async def reads_over_window() -> int:
        before = await ledger_reads(platform)
        await asyncio.sleep(window)
        return await ledger_reads(platform) - before

    async with connected(world, cast.provider) as first:
        await first.subscribe("1", cast.partnership_id)
        assert sequences(await first.events("1", last)) == list(range(1, last + 1))
        one = await reads_over_window()
        # Eleven more on the same partnership and audience (two callers of the provider, three sockets).
        async with (
            connected(world, cast.provider) as second,
            connected(world, cast.provider_member) as third,
            connected(world, cast.provider_member) as fourth,
        ):
            subscribers = [(first, "2"), (first, "3"), (first, "4"), (second, "1"), (second, "2")]
            subscribers += [(third, str(i)) for i in range(1, 4)] + [(fourth, str(i)) for i in range(1, 4)]
            for socket, id in subscribers:
                await socket.subscribe(id, cast.partnership_id)
            for socket, id in subscribers:
                assert sequences(await socket.events(id, last)) == list(range(1, last + 1))
            many = await reads_over_window()
    # One poll per interval either way (today's code: one per subscriber and interval, 12 times as many).
    assert one >= 3
    assert many <= one * 1.5 + 2, (one, many)


async def test_every_subscriber_receives_every_event_in_order_one_joining_mid_flow_too(
    platform: Platform, world: World
) -> None:
    cast = world.cast
    start = await add_events(platform, world, 0)
    async with (
        connected(world, cast.payer_a) as payer,
        connected(world, cast.evaluator) as evaluator,
        connected(world, cast.investor) as investor,
    ):
        await payer.subscribe("1", cast.partnership_id, after=start)
        await payer.subscribe("2", cast.partnership_id, after=start)
        await evaluator.subscribe("1", cast.partnership_id, after=start, fields="participantId")
        await investor.subscribe("1", cast.partnership_id, after=start, fields="hash")
        middle = await add_events(platform, world, 3)
        await evaluator.subscribe("late", cast.partnership_id, after=start + 1)  # joins while events flow
        last = await add_events(platform, world, 3)
        assert last == middle + 3
        received = {
            (socket, id): await socket.events(id, last)
            for socket, id in ((payer, "1"), (payer, "2"), (evaluator, "1"), (investor, "1"))
        }
        for events in received.values():
            assert sequences(events) == list(range(start + 1, last + 1))
        assert sequences(await evaluator.events("late", last)) == list(range(start + 2, last + 1))
        # Each shaped for its own subscriber: the evaluator sees who enrolled, the investor only links.
        assert all(event["participantId"] for event in received[(evaluator, "1")])
        assert all(set(event) == {"sequence", "hash"} for event in received[(investor, "1")])


async def test_one_subscription_over_the_socket_limit_is_refused_alone_and_a_completed_one_frees_its_slot(
    platform: Platform, world: World
) -> None:
    cast = world.cast
    last = await add_events(platform, world, 0)
    async with connected(world, cast.payer_b) as socket:
        for i in range(1, PER_SOCKET + 1):
            await socket.subscribe(str(i), cast.partnership_id, after=last)
        await socket.subscribe("over", cast.partnership_id, after=last)
        refused(await socket.message("over"), "socket")
        # The others go on.
        last = await add_events(platform, world, 1)
        for i in range(1, PER_SOCKET + 1):
            assert sequences(await socket.events(str(i), last)) == [last]
        # Completing one frees its slot at once.
        await socket.complete("1")
        await socket.subscribe("again", cast.partnership_id, after=last - 1)
        assert sequences(await socket.events("again", last)) == [last]
        await socket.subscribe("over-again", cast.partnership_id, after=last)
        refused(await socket.message("over-again"), "socket")


async def test_one_subscription_over_the_caller_limit_is_refused_and_a_dropped_socket_frees_its_slots(
    platform: Platform, world: World
) -> None:
    cast = world.cast
    last = await add_events(platform, world, 0)
    async with connected(world, cast.adviser) as first, connected(world, cast.adviser) as second:
        for i in range(PER_SOCKET):
            await first.subscribe(str(i), cast.partnership_id, after=last)
        for i in range(PER_CALLER - PER_SOCKET):
            await second.subscribe(str(i), cast.partnership_id, after=last)
        # Every one of the caller's slots is taken once the last one has its first event.
        last = await add_events(platform, world, 1)
        assert sequences(await second.events(str(PER_CALLER - PER_SOCKET - 1), last)) == [last]
        await second.subscribe("over", cast.partnership_id, after=last)
        refused(await second.message("over"), "caller")
        # Another caller is not held to this one's limit.
        async with connected(world, cast.observer) as other:
            await other.subscribe("1", cast.partnership_id, after=last - 1)
            assert sequences(await other.events("1", last)) == [last]
        # A socket that vanishes frees its slots once the gateway notices.
        first.abort()
        deadline = time.monotonic() + WAIT
        attempt = 0
        while True:
            attempt += 1
            await second.subscribe(f"retry-{attempt}", cast.partnership_id, after=last - 1)
            message = await second.message(f"retry-{attempt}")
            if message["type"] == "next":
                break
            refused(message, "caller")
            assert time.monotonic() < deadline, "the dropped socket's slots were never freed"
            await asyncio.sleep(0.2)
        assert message["payload"]["data"]["ledgerEvents"]["sequence"] == last


async def test_a_revoked_tokens_stream_ends_and_the_others_sharing_its_reader_go_on(
    platform: Platform, world: World
) -> None:
    cast = world.cast
    machine = cast.provider_machine
    last = await add_events(platform, world, 0)
    async with connected(world, machine) as revoked, connected(world, cast.provider_member) as other:
        await revoked.subscribe("1", cast.partnership_id, after=last - 1)
        await other.subscribe("1", cast.partnership_id, after=last - 1)
        for socket in (revoked, other):
            assert sequences(await socket.events("1", last)) == [last]
        assert machine.client_id
        assert machine.client_secret
        async with new_client(base_url=platform.url("identity"), timeout=30) as identity:
            answer = await identity.post(
                "/oauth2/revoke",
                data={"token": machine.token},
                auth=(machine.client_id, machine.client_secret),
            )
        assert answer.status_code == 200
        ended = await revoked.message("1")
        assert ended["type"] == "next", ended
        # The gateway's own check (`token-revoked`), or the outcome service's refusal of a read made with
        # that token, whichever learns of the revocation first.
        assert ended["payload"]["errors"][0]["extensions"]["code"] in ("token-revoked", "unauthorized")
        assert (await revoked.message("1"))["type"] == "complete"
        last = await add_events(platform, world, 1)
        assert sequences(await other.events("1", last)) == [last]
