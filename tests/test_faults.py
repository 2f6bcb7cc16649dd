"""Faults under load, on a platform of its own over a private PostgreSQL (the embedded `pgserver` one, on a
Unix socket: never the machine's shared server), so restarting the database or killing a service disturbs
no other test.

Each scenario runs concurrent enrolments, eligibility confirmations, claims and verifications, every write
with an `Idempotency-Key` and retried with the same key until it is answered 2xx (as docs/integrations/
README.md tells integrators to), while a webhook receiver verifies every delivery with `standardwebhooks`.
Mid-load, one fault: PostgreSQL stopped at once (`immediate`, a crash) and started again; the outcome
service killed with SIGKILL while deliveries are in flight, and started again; the webhook receiver down
for a while. Afterwards:

- every write answered 2xx is there exactly once (participants, claims, ledger events), and sending it
  again with its key replays the stored answer (`Idempotent-Replayed: true`);
- no answer was a 5xx other than the documented 503 with `Retry-After`;
- the ledger's sequence has no gap, and the chain verifies offline from the feed with an independent RFC
  8785 implementation (`tests/independent_chain.py`), ending at the hash the service verifies;
- every event was delivered as a webhook; a delivery may arrive more than once (at least once), but always
  under its one `webhook-id`, never as two deliveries of one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from effekt.embedded_pg import EmbeddedPostgres
from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, make_cast
from effekt.sandbox.identifiers import HERNING, synthetic_cpr
from effekt.sandbox.platform import free_port, tidied
from tests.independent_chain import verify_feed_chain
from tests.outcomes.integrations.support import eventually, ledger_engine, read_feed_page, write_events
from tests.outcomes.support import TODAY, active_contract, check, employment_terms, whole_ledger
from tests.platform import running_platform

# A fast dispatcher with a short lease, so a killed dispatcher's claimed deliveries fall due again soon; the
# retry window outlasts every outage here by far (a delivery given up would read as loss).
FAST_DISPATCH = {
    "OUTCOMES_WEBHOOK_POLL_INTERVAL": "0.1",
    "OUTCOMES_WEBHOOK_BATCH": "10",
    "OUTCOMES_WEBHOOK_TIMEOUT": "2",
    "OUTCOMES_WEBHOOK_LEASE": "4",
    "OUTCOMES_WEBHOOK_RETRY_BASE": "0.2",
    "OUTCOMES_WEBHOOK_RETRY_MAX_DELAY": "1",
    "OUTCOMES_WEBHOOK_RETRY_FOR": "300",
}
PEOPLE = 16  # participants per scenario, each enrolled, confirmed, claimed for and verified: 64 writes
RETRY_FOR = 120.0  # seconds a write is retried before the test gives up on it


@dataclass
class PrivatePlatform:
    platform: Platform
    postgres: EmbeddedPostgres

    async def restart_postgres(self, down_for: float) -> None:
        """Stop PostgreSQL at once (no checkpoint, as a crash), keep it down, start it again."""
        from pgserver._commands import POSTGRES_BIN_PATH  # imported by EmbeddedPostgres.start() already

        server: Any = self.postgres._server  # the wheel's server object: its data folder and system user
        pg_ctl = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-w"]
        socket_dir = server._postmaster_info.socket_dir  # started again as it was, on the same socket
        await asyncio.to_thread(
            subprocess.run,
            [*pg_ctl, "-m", "immediate", "stop"],
            user=server.system_user,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        await asyncio.sleep(down_for)
        # Started here rather than by the wheel's `ensure_postgres_running`, whose `pg_ctl` gives crash
        # recovery 10 s: on two busy cores that ran out while recovery went on (a failed test, then a
        # teardown that met a server "not yet accepting connections"). `-w` waits until it accepts them.
        start = [*pg_ctl, "-t", "120", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log)]
        await asyncio.to_thread(
            subprocess.run,
            [*start, "start"],
            user=server.system_user,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=150,
        )
        await asyncio.to_thread(server.ensure_postgres_running)  # finds it running; records its pid

    async def kill_outcomes(self, down_for: float) -> None:
        self.platform.stop_one("outcomes", kill=True)
        await asyncio.sleep(down_for)
        self.platform.start_one("outcomes")
        await asyncio.to_thread(self.platform.wait_ready, 60)


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePlatform]:
    # Not under pytest's basetemp: as root the server runs as the wheel's `pgserver` user, which must
    # traverse the path, and every pytest session resets its `pytest-of-<user>` folder to 0700.
    data = Path(tempfile.mkdtemp(prefix="effekt-faults-pg-"))
    postgres = EmbeddedPostgres(data)
    url = postgres.start()
    try:
        # `tidied`: the platform's databases are dropped in the background; await that (and drop the
        # templates) before the server stops.
        with (
            tidied(url),
            running_platform(url, tmp_path_factory.mktemp("faults"), extra_env=FAST_DISPATCH) as platform,
        ):
            yield PrivatePlatform(platform, postgres)
    finally:
        postgres.stop()
        shutil.rmtree(data, ignore_errors=True)


# --- the webhook receiver ----------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A Standard Webhooks endpoint on a fixed port that can go down and come back; it counts every
    verified delivery per `webhook-id` and can hold each request a moment (so batches are in flight)."""

    delay: float = 0.0
    port: int = field(default_factory=free_port)
    secret: str = ""
    accepted: Counter[str] = field(default_factory=Counter)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # webhook-id -> event
    bad_signatures: int = 0
    in_flight: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        try:
            await asyncio.sleep(self.delay)
            body = await request.read()
            try:
                event = Webhook(self.secret).verify(body, dict(request.headers))
            except Exception:
                self.bad_signatures += 1
                return web.Response(status=400)
            self.accepted[request.headers["webhook-id"]] += 1
            self.events[request.headers["webhook-id"]] = event
            return web.Response(status=204)
        finally:
            self.in_flight -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Receiver]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    def sequences(self) -> list[int]:
        return sorted(int(event["sequence"]) for event in self.events.values())

    def assert_each_event_delivered_once_under_one_id(self, head: int) -> None:
        assert self.bad_signatures == 0
        ids_per_event: defaultdict[str, set[str]] = defaultdict(set)
        for webhook_id, event in self.events.items():
            ids_per_event[event["id"]].add(webhook_id)
        assert all(len(ids) == 1 for ids in ids_per_event.values()), "one event delivered as two deliveries"
        assert self.sequences() == list(range(1, head + 1))


# --- writes that are retried until they are answered ----------------------------------------------------


@dataclass
class Writes:
    """Every write of a scenario: its request, its key, each answer it got (a status, or None for no answer
    at all) and the 2xx it finally got."""

    client: httpx.AsyncClient
    answers: dict[str, list[int | None]] = field(default_factory=dict)
    sent: dict[str, tuple[str, dict[str, Any] | None, Actor]] = field(default_factory=dict)
    final: dict[str, httpx.Response] = field(default_factory=dict)
    done: int = 0

    async def post(self, path: str, actor: Actor, body: dict[str, Any] | None = None) -> Any:
        key = secrets.token_hex(12)
        self.sent[key] = (path, body, actor)
        seen = self.answers.setdefault(key, [])
        deadline = asyncio.get_running_loop().time() + RETRY_FOR
        while True:
            assert asyncio.get_running_loop().time() < deadline, f"POST {path} never answered 2xx: {seen}"
            try:
                response = await self._send(key)
            except httpx.TransportError:
                seen.append(None)  # no answer: it may or may not have happened, so send it again
                await asyncio.sleep(0.3)
                continue
            seen.append(response.status_code)
            if response.status_code < 300:
                self.final[key] = response
                self.done += 1
                return response.json()
            retryable = response.status_code == 503 or _in_flight(response)
            assert retryable, f"POST {path}: {response.status_code} {response.text}"
            assert response.headers.get("retry-after"), response.headers
            await asyncio.sleep(0.3)

    async def _send(self, key: str) -> httpx.Response:
        path, body, actor = self.sent[key]
        return await self.client.post(
            path, json=body, headers={**actor.headers, "Idempotency-Key": key}, timeout=15
        )

    async def assert_every_write_replays(self) -> None:
        for key, first in self.final.items():
            again = await self._send(key)
            assert again.status_code == first.status_code, again.text
            assert again.headers.get("idempotent-replayed") == "true", (key, again.headers)
            assert again.json() == first.json()

    def assert_no_5xx_but_503(self) -> None:
        seen = Counter(status for answers in self.answers.values() for status in answers)
        assert all(status is None or status < 500 or status == 503 for status in seen), seen
        # The fault was felt: some write went unanswered or was refused for now, and was retried.
        assert seen[None] + seen[503] + seen[409] > 0, seen


def _in_flight(response: httpx.Response) -> bool:
    """The same key still running elsewhere (a retry overtook a first attempt the fault held up)."""
    return response.status_code == 409 and response.json().get("code") == "idempotent-request-in-flight"


# --- one scenario ---------------------------------------------------------------------------------------


@dataclass
class Scene:
    cast: Cast
    contract_id: str
    writes: Writes
    receiver: Receiver
    subscription_id: str


@contextlib.asynccontextmanager
async def scene(private: PrivatePlatform, receiver: Receiver) -> AsyncIterator[Scene]:
    platform = private.platform
    cast = await make_cast(platform)
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30) as outcomes,
        receiver.running(),
    ):
        contract_id, _ = await active_contract(contracts, cast, employment_terms(cast, max_participants=None))
        subscription = check(
            await outcomes.post(
                "/v1/webhook-subscriptions",
                json={"partnership_id": str(cast.partnership_id), "url": receiver.url},
                headers={**cast.provider.headers, "Idempotency-Key": secrets.token_hex(8)},
            ),
            201,
        )
        receiver.secret = subscription["secret"]
        yield Scene(cast, str(contract_id), Writes(outcomes), receiver, subscription["id"])


async def _one_person(scene: Scene, index: int) -> None:
    """Enrol, confirm, claim, verify: four writes, each retried until answered."""
    cast, writes = scene.cast, scene.writes
    participant = await writes.post(
        "/v1/participants",
        cast.provider,
        {
            "partnership_id": str(cast.partnership_id),
            "contract_id": scene.contract_id,
            "cpr": synthetic_cpr(index),
            "municipality_code": HERNING,
            "enrolment_date": (TODAY - timedelta(days=100)).isoformat(),
        },
    )
    await writes.post(f"/v1/participants/{participant['id']}/eligibility-confirmation", cast.payer_a)
    claimed = await writes.post(
        "/v1/outcome-claims",
        cast.provider,
        {
            "participant_id": participant["id"],
            "outcome_code": "job_start",
            "achievement_date": (TODAY - timedelta(days=50)).isoformat(),
            "evidence_reference": f"eIndkomst extract {index}",
        },
    )
    await writes.post(
        f"/v1/outcome-claims/{claimed['id']}/verification", cast.payer_a, {"decision": "verified"}
    )


async def load_with_fault(scene: Scene, fault: Callable[[], Awaitable[None]], *, when: int) -> None:
    """PEOPLE people's writes, a few at a time; `fault` runs once `when` writes have been answered."""
    slots = asyncio.Semaphore(6)

    async def person(index: int) -> None:
        async with slots:
            await _one_person(scene, index)

    async def inject() -> None:
        await eventually(lambda: scene.writes.done >= when, within=RETRY_FOR, interval=0.05)
        await fault()

    await asyncio.gather(inject(), *(person(i) for i in range(PEOPLE)))


async def _all_pages(
    client: httpx.AsyncClient, actor: Actor, path: str, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = check(await client.get(path, params=query, headers=actor.headers), 200)
        items.extend(page["items"])
        if (cursor := page["next_cursor"]) is None:
            return items


async def _feed(client: httpx.AsyncClient, actor: Actor, partnership_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page, cursor = await read_feed_page(client, actor, cursor, partnership=partnership_id, limit=200)
        if not page:
            return events
        events.extend(page)


async def assert_nothing_lost_or_doubled(scene: Scene) -> None:
    cast, writes, outcomes = scene.cast, scene.writes, scene.writes.client
    partnership = str(cast.partnership_id)
    writes.assert_no_5xx_but_503()
    assert len(writes.final) == 4 * PEOPLE
    await writes.assert_every_write_replays()

    answered: dict[str, list[str]] = {path: [] for path in ("participants", "outcome-claims")}
    for key, response in writes.final.items():
        path = writes.sent[key][0]
        for collection in answered:
            if path == f"/v1/{collection}":
                answered[collection].append(response.json()["id"])
    participants = await _all_pages(outcomes, cast.provider, "/v1/participants", partnership_id=partnership)
    claims = await _all_pages(outcomes, cast.provider, "/v1/outcome-claims", partnership_id=partnership)
    assert sorted(p["id"] for p in participants) == sorted(answered["participants"])
    assert sorted(c["id"] for c in claims) == sorted(answered["outcome-claims"])
    assert {c["status"] for c in claims} == {"verified"}

    ledger = await whole_ledger(outcomes, cast.provider, cast.partnership_id)
    assert [int(item["sequence"]) for item in ledger] == list(range(1, len(ledger) + 1))
    kinds = Counter((item["event"]["type"], item["event"]["subject"]) for item in ledger)
    assert set(kinds.values()) == {1}, [k for k, n in kinds.items() if n > 1]  # each change recorded once
    per_type = Counter(t for t, _ in kinds)
    assert per_type["dk.effekt.participant.enrolled"] == PEOPLE
    assert per_type["dk.effekt.claim.submitted"] == PEOPLE
    assert per_type["dk.effekt.claim.verified"] == PEOPLE

    feed = await _feed(outcomes, cast.provider, partnership)
    assert len(feed) == len(ledger)
    last_hash = verify_feed_chain(feed)
    verification = check(
        await outcomes.get(
            f"/v1/partnerships/{partnership}/ledger/verification", headers=cast.provider.headers
        ),
        200,
    )
    assert verification["valid"], verification
    assert last_hash == ledger[-1]["hash"]

    await eventually(lambda: len(scene.receiver.events) >= len(ledger), within=90)
    scene.receiver.assert_each_event_delivered_once_under_one_id(len(ledger))


# --- the scenarios --------------------------------------------------------------------------------------


async def test_webhook_receiver_down_for_a_while_gets_every_delivery_when_back(
    private: PrivatePlatform,
) -> None:
    receiver = Receiver()
    async with scene(private, receiver) as s, ledger_engine(private.platform) as engine:
        await write_events(engine, s.cast.partnership_id, 10, tag="before")
        await eventually(lambda: len(receiver.events) >= 1)
        await receiver.stop()  # refused connections: every delivery now fails and is retried
        await write_events(engine, s.cast.partnership_id, 30, tag="while-down")

        async def deliveries() -> list[dict[str, Any]]:
            path = f"/v1/webhook-subscriptions/{s.subscription_id}/deliveries"
            answer = await s.writes.client.get(path, params={"limit": 100}, headers=s.cast.provider.headers)
            items: list[dict[str, Any]] = check(answer, 200)["items"]
            return items

        # Several retry rounds fail (0.2 s back-off doubling to 1 s here) before the receiver is back: waited
        # for in the delivery log, not for a fixed time.
        deadline = asyncio.get_running_loop().time() + 60
        while max((d["attempts"] for d in await deliveries()), default=0) < 4:
            assert asyncio.get_running_loop().time() < deadline, "the deliveries were not retried"
            await asyncio.sleep(0.2)
        await receiver.start()
        ledger = await whole_ledger(s.writes.client, s.cast.provider, s.cast.partnership_id)
        await eventually(lambda: len(receiver.events) >= len(ledger), within=90)
        log = await deliveries()
    receiver.assert_each_event_delivered_once_under_one_id(len(ledger))
    assert max(d["attempts"] for d in log) > 1  # the outage was felt: deliveries failed and were retried


async def test_the_outcome_service_killed_mid_load_loses_and_doubles_nothing(
    private: PrivatePlatform,
) -> None:
    receiver = Receiver(delay=0.05)  # deliveries take a moment: the kill lands mid-batch

    async def kill() -> None:
        await eventually(lambda: receiver.in_flight > 0, within=30, interval=0.01)
        await private.kill_outcomes(down_for=1.0)

    async with scene(private, receiver) as s:
        await load_with_fault(s, kill, when=PEOPLE)
        await assert_nothing_lost_or_doubled(s)


async def test_postgresql_restarted_mid_load_loses_and_doubles_nothing(private: PrivatePlatform) -> None:
    receiver = Receiver()
    async with scene(private, receiver) as s:
        await load_with_fault(s, lambda: private.restart_postgres(down_for=2.0), when=PEOPLE)
        await assert_nothing_lost_or_doubled(s)
