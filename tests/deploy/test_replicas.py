"""Two outcome replicas against one database (issue 9): webhook deliveries are neither duplicated nor lost,
also when one replica is stopped mid-run, and a statement requested on both at once is one statement.

The platform here is the test's own (identity, contracts and two outcome processes), tuned for a fast
dispatcher, so stopping a replica never disturbs the session platform other tests use.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiohttp import web
from sqlalchemy import text

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, make_cast
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.platform import free_port
from tests.outcomes.integrations.support import Receiver, eventually, ledger_engine, subscribe
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    employment_terms,
    enrol,
    key,
    ledger_head,
    quarter,
)
from tests.platform import running_platform

# A fast dispatcher; the lease stays well above the delivery timeout, so only a dead replica's claims
# ever fall due again (a graceful stop finishes its batch first).
FAST_DISPATCH = {
    "OUTCOMES_WEBHOOK_POLL_INTERVAL": "0.1",
    "OUTCOMES_WEBHOOK_BATCH": "10",
    "OUTCOMES_WEBHOOK_TIMEOUT": "5",
    "OUTCOMES_WEBHOOK_LEASE": "20",
    "OUTCOMES_WEBHOOK_RETRY_BASE": "0.2",
    "OUTCOMES_WEBHOOK_RETRY_MAX_DELAY": "1",
}
SECOND = "outcomes-b"
BORN = date(1960, 1, 1)


@pytest.fixture(scope="module")
def replicas(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Identity, contracts and two outcome processes (keys `outcomes` and `outcomes-b`)."""
    with running_platform(
        pg_server_url,
        tmp_path_factory.mktemp("replicas"),
        extra_env=FAST_DISPATCH,
        only=("identity", "contracts", "outcomes"),
    ) as platform:
        platform.start_one("outcomes", port=free_port(), key=SECOND)
        platform.wait_ready(timeout=60)
        yield platform


@dataclass
class CountingReceiver(Receiver):
    """The integration tests' verifying receiver, also counting accepted deliveries per `webhook-id`."""

    accepted: Counter[str] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.Response:
        response = await super().handle(request)
        if response.status == 204:
            self.accepted[request.headers["webhook-id"]] += 1
        return response


async def _enrol_many(
    replicas: Sequence[httpx.AsyncClient], cast: Cast, contract_id: UUID, indices: range
) -> None:
    """One enrolment (one ledger event) per index, spread round-robin over the replicas, a few at a time."""
    slots = asyncio.Semaphore(6)

    async def one(index: int) -> None:
        async with slots:
            await enrol(
                replicas[index % len(replicas)],
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(index, born=BORN + timedelta(days=index)),
                municipality_code="657",
                enrolment_date=TODAY - timedelta(days=30),
            )

    await asyncio.gather(*(one(i) for i in indices))


async def _stop_while(platform: Platform, replica: str, writes: Coroutine[Any, Any, None]) -> None:
    """Stop `replica` gracefully while `writes` run against the others."""
    writing = asyncio.create_task(writes)
    await asyncio.to_thread(platform.stop_one, replica)
    await writing
    assert replica not in platform.processes


async def test_two_replicas_deliver_every_event_exactly_once_even_when_one_stops_mid_run(
    replicas: Platform,
) -> None:
    cast = await make_cast(replicas)
    receiver = CountingReceiver()
    async with (
        new_client(base_url=replicas.url("contracts"), timeout=30) as contracts,
        new_client(base_url=replicas.endpoints["outcomes"], timeout=30) as first,
        receiver.running(),
        ledger_engine(replicas) as engine,
    ):
        contract_id, _ = await active_contract(contracts, cast, employment_terms(cast, max_participants=None))
        created = await subscribe(first, cast.investor, cast.partnership_id, receiver.url)
        receiver.secret = created["secret"]

        async with new_client(base_url=replicas.endpoints[SECOND], timeout=30) as second:
            await _enrol_many((first, second), cast, contract_id, range(0, 100))
            # A rolling deploy: SIGTERM the second replica while the first keeps taking writes and both
            # have deliveries in flight; then bring it back on another port.
            await _stop_while(replicas, SECOND, _enrol_many((first,), cast, contract_id, range(100, 170)))
        replicas.start_one("outcomes", port=free_port(), key=SECOND)
        await asyncio.to_thread(replicas.wait_ready, 60)
        async with new_client(base_url=replicas.endpoints[SECOND], timeout=30) as second:
            await _enrol_many((first, second), cast, contract_id, range(170, 230))
            # Now the first replica goes: what is left is delivered by the second one alone.
            await _stop_while(
                replicas, "outcomes", _enrol_many((second,), cast, contract_id, range(230, 300))
            )
            head = await ledger_head(second, cast.investor, cast.partnership_id)
            await eventually(lambda: len(receiver.accepted) >= head, within=60)

        async def outbox() -> list[tuple[str, str, int]]:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT id, status, attempts FROM webhook_deliveries WHERE subscription_id = :s"),
                    {"s": created["id"]},
                )
                return [(str(i), s, a) for i, s, a in rows]

        for _ in range(100):  # the last deliveries are recorded just after the receiver answered
            rows = await outbox()
            if all(status == "delivered" for _, status, _ in rows):
                break
            await asyncio.sleep(0.2)
        replicas.start_one("outcomes")  # back on its port, for the module's other tests
        await asyncio.to_thread(replicas.wait_ready, 60)

    assert head == 300
    assert receiver.bad_signatures == 0
    duplicated = {webhook_id: n for webhook_id, n in receiver.accepted.items() if n > 1}
    assert duplicated == {}
    assert receiver.requests == head
    assert receiver.sequences(cast.partnership_id) == list(range(1, head + 1))
    assert set(receiver.accepted) == {delivery_id for delivery_id, _, _ in rows}
    # Each outbox row was claimed once, by one replica, and delivered on that one attempt.
    assert Counter((status, attempts) for _, status, attempts in rows) == {("delivered", 1): head}


async def test_a_statement_requested_on_both_replicas_at_once_is_one_statement(
    replicas: Platform,
) -> None:
    cast = await make_cast(replicas)
    async with (
        new_client(base_url=replicas.url("contracts"), timeout=30) as contracts,
        new_client(base_url=replicas.endpoints["outcomes"], timeout=30) as first,
        new_client(base_url=replicas.endpoints[SECOND], timeout=30) as second,
        ledger_engine(replicas) as engine,
    ):
        contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
        periods = [quarter(TODAY - timedelta(days=92 * n)) for n in range(4)]
        for start, end in periods:
            body = {
                "contract_id": str(contract_id),
                "payer_organisation_id": str(cast.payer_b.organisation_id),
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            }
            by_provider, by_payer = await asyncio.gather(
                first.post("/v1/payment-statements", json=body, headers={**cast.provider.headers, **key()}),
                second.post("/v1/payment-statements", json=body, headers={**cast.payer_b.headers, **key()}),
            )
            # Both requests succeed: the later one refreshes the draft the earlier one created.
            a, b = check(by_provider, 201), check(by_payer, 201)
            assert a["id"] == b["id"]
            assert abs(a["version"] - b["version"]) == 1

        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT period_start, count(*) FROM payment_statements WHERE contract_id = :c "
                    "GROUP BY period_start"
                ),
                {"c": contract_id},
            )
            per_period: dict[date, int] = dict(rows.all())
        listed = check(
            await first.get(
                "/v1/payment-statements",
                params={"contract_id": str(contract_id)},
                headers=cast.provider.headers,
            ),
            200,
        )["items"]

    assert per_period == {start: 1 for start, _ in periods}
    assert sorted(s["period_start"] for s in listed) == sorted(start.isoformat() for start, _ in periods)
