"""The shared readers of gateway/streams.py against an in-memory ledger: one upstream read per poll for any
number of subscribers, every item in order from each one's cursor (joining mid-flow too), a slow
subscriber ended alone, a refused credential ending only its holders, and the limits' slots."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from gateway.hardening import DomainError
from gateway.streams import Ended, Hub, Overflowed, Read, Subscriber, TooManySubscriptions, View

POLL = 0.01
VIEW = View("partnership", "provider")


@dataclass(frozen=True)
class Item:
    sequence: int


class Ledger:
    """A gapless in-memory ledger; counts reads and can refuse a credential."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.reads = 0
        self.refused: set[str] = set()
        self.used: set[str] = set()  # the credentials reads were made with
        self.broken = False

    def append(self, count: int = 1) -> None:
        for _ in range(count):
            self.items.append(Item(len(self.items) + 1))

    def reader(self, credential: str) -> Read[Item]:
        async def read(after: int, limit: int) -> Sequence[Item]:
            self.reads += 1
            self.used.add(credential)
            await asyncio.sleep(0)  # a real read yields: joins and appends interleave with it
            if self.broken:
                raise DomainError("the outcomes service is unavailable", code="service-unavailable")
            if credential in self.refused:
                raise DomainError("token revoked", code="token-revoked", status=401)
            return self.items[after : after + limit]

        return read


def hub(queue_size: int = 1000, page: int = 5) -> Hub[Item]:
    return Hub(poll_seconds=POLL, page=page, queue_size=queue_size, per_socket=3, per_caller=4)


def subscriber(
    ledger: Ledger,
    cursor: int = 0,
    credential: str = "a",
    queue_size: int = 1000,
    refusal: Callable[[], Exception | None] = lambda: None,
) -> Subscriber[Item]:
    return Subscriber(
        ledger.reader(credential),
        credential=credential,
        refusal=refusal,
        cursor=cursor,
        queue_size=queue_size,
    )


async def take(s: Subscriber[Item], until: int) -> list[int]:
    seen: list[int] = []
    while not seen or seen[-1] < until:
        item = await asyncio.wait_for(s.next(1.0), 5)
        if item is not None:
            seen.append(item.sequence)
    return seen


async def test_reads_do_not_grow_with_the_number_of_subscribers() -> None:
    async def reads_with(n: int) -> int:
        ledger, streams = Ledger(), hub()
        subscribers = [subscriber(ledger) for _ in range(n)]
        with ExitStack() as stack:
            for s in subscribers:
                stack.enter_context(streams.attached(VIEW, s))
            await asyncio.sleep(POLL * 3)
            before = ledger.reads
            await asyncio.sleep(POLL * 20)
            return ledger.reads - before

    one, many = await reads_with(1), await reads_with(50)
    assert one > 0
    assert many <= one * 2  # timing noise only; one reader per poll either way, not 50


@pytest.mark.parametrize("seed", range(8))
async def test_every_subscriber_gets_every_item_once_in_order_from_its_cursor(seed: int) -> None:
    rng = random.Random(seed)
    ledger, streams = Ledger(), hub()
    ledger.append(7)
    total = 60
    tasks: list[tuple[int, asyncio.Task[list[int]]]] = []
    with ExitStack() as stack:

        async def join() -> None:
            # Behind, at or ahead of where the others are.
            cursor = min(rng.randint(0, len(ledger.items) + 5), total - 1)
            s = subscriber(ledger, cursor)
            stack.enter_context(streams.attached(VIEW, s))
            tasks.append((cursor, asyncio.create_task(take(s, total))))

        await join()
        while len(ledger.items) < total:
            if rng.random() < 0.3:
                await join()
            left = total - len(ledger.items)
            ledger.append(min(rng.randint(1, 3), left))
            await asyncio.sleep(rng.choice((0, 0, POLL / 3, POLL * 2)))
        for cursor, task in tasks:
            assert await task == list(range(cursor + 1, total + 1))
    assert streams.readers() == {}


async def test_a_slow_subscriber_is_ended_and_the_others_go_on() -> None:
    ledger, streams = Ledger(), hub(page=3)
    slow, quick = subscriber(ledger, queue_size=4), subscriber(ledger, queue_size=4)
    with streams.attached(VIEW, slow), streams.attached(VIEW, quick):
        received = asyncio.create_task(take(quick, 30))
        for _ in range(10):
            ledger.append(3)
            await asyncio.sleep(POLL * 2)
        assert await received == list(range(1, 31))
        with pytest.raises(Ended) as ended:
            await slow.next(POLL)
        assert isinstance(ended.value.cause, Overflowed)
        assert list(streams.readers()[VIEW].subscribers) == [quick]


async def test_the_reader_stops_with_its_last_subscriber_and_a_new_one_starts_afresh() -> None:
    ledger, streams = Ledger(), hub()
    with (
        streams.attached(VIEW, subscriber(ledger)) as first,
        streams.attached(VIEW, subscriber(ledger)) as second,
    ):
        assert first is second
    assert streams.readers() == {}
    await asyncio.sleep(POLL * 2)
    stopped = ledger.reads
    await asyncio.sleep(POLL * 5)
    assert ledger.reads == stopped
    with streams.attached(VIEW, subscriber(ledger)) as third:
        assert third is not first
        await asyncio.sleep(POLL * 3)
    assert ledger.reads > stopped


async def test_a_refused_credential_ends_its_holders_and_the_others_read_with_their_own() -> None:
    ledger, streams = Ledger(), hub()
    revoked, other = subscriber(ledger, credential="revoked"), subscriber(ledger, credential="valid")
    with streams.attached(VIEW, revoked), streams.attached(VIEW, other):
        ledger.append(2)
        assert await take(other, 2) == [1, 2]
        assert await take(revoked, 2) == [1, 2]
        ledger.refused.add("revoked")
        ledger.append(1)
        with pytest.raises(Ended) as ended:
            await take(revoked, 3)
        assert isinstance(ended.value.cause, DomainError)
        assert ended.value.cause.code == "token-revoked"
        assert await take(other, 3) == [3]


async def test_an_upstream_failure_ends_every_subscriber_of_the_view() -> None:
    ledger, streams = Ledger(), hub()
    a, b = subscriber(ledger), subscriber(ledger, credential="b")
    with streams.attached(VIEW, a), streams.attached(VIEW, b):
        ledger.broken = True
        for s in (a, b):
            with pytest.raises(Ended):
                await take(s, 1)
        assert streams.readers() == {}


async def test_the_reader_never_reads_with_a_subscriber_that_no_longer_holds() -> None:
    ledger, streams = Ledger(), hub()
    expired = subscriber(ledger, credential="expired", refusal=lambda: DomainError("x", code="token-expired"))
    valid = subscriber(ledger, credential="valid")
    with streams.attached(VIEW, expired), streams.attached(VIEW, valid):
        ledger.append(2)
        assert await take(valid, 2) == [1, 2]
    assert ledger.used == {"valid"}


async def test_a_fault_in_the_reader_ends_its_subscribers_rather_than_leaving_them_waiting() -> None:
    def broken() -> Exception | None:
        raise RuntimeError("a bug")

    ledger, streams = Ledger(), hub()
    s = subscriber(ledger, refusal=broken)
    with streams.attached(VIEW, s), pytest.raises(Ended) as ended:
        await take(s, 1)
    assert isinstance(ended.value.cause, RuntimeError)
    assert streams.readers() == {}


def test_slots_are_counted_per_socket_and_per_caller_and_freed_once() -> None:
    limits = hub().limits
    one, two = object(), object()
    held = [limits.acquire("alice", one) for _ in range(3)]
    with pytest.raises(TooManySubscriptions) as refused:
        limits.acquire("bob", one)
    assert refused.value.extensions == {"code": "too-many-subscriptions", "per": "socket", "limit": 3}
    held.append(limits.acquire("bob", two))  # another socket is not full
    held.append(limits.acquire("alice", two))
    with pytest.raises(TooManySubscriptions) as refused:
        limits.acquire("alice", object())
    assert refused.value.extensions["per"] == "caller"
    held[0].release()
    held[0].release()  # twice: freed once
    assert limits.held("alice") == 3
    limits.acquire("alice", one)
    with pytest.raises(TooManySubscriptions):
        limits.acquire("alice", one)
