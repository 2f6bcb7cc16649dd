"""SQL round trips per single write: an enrolment, an eligibility confirmation, a claim and a verification
each cost at most `BOUND` statements to the outcome database, BEGIN and COMMIT included (a count, not a
timing). Counted on an outcomes replica in this process (on the shared database) by a hook on its engine,
for the statements run in the caller's row-security context only, so the replica's background loops
(which name every partnership or none) are left out. Each kind is counted on its second write, with the
connection's prepared statements warm, as every write but a process's first finds them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, make_cast
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.platform import free_port
from kit.rows import row_context
from services.outcomes.app import create_app
from services.outcomes.settings import Settings
from tests.outcomes.support import TODAY, active_contract, claim, confirm, decide, employment_terms, enrol

BOUND = 9  # single digits (issue 18)


@dataclass
class Counter:
    """The statements the engine sent in a row-security context naming `partnership`, while counting."""

    partnership: str
    counting: bool = False
    statements: list[str] = field(default_factory=list)

    def note(self, statement: str) -> None:
        if self.counting and self.partnership in row_context().partnerships.split(","):
            self.statements.append(" ".join(statement.split())[:160])


def install(engine: AsyncEngine, counter: Counter) -> None:
    def cursor(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        hit = getattr(context, "cache_hit", None) if context is not None else None
        counter.note(f"[{hit}] {statement}" if os.environ.get("ROUND_TRIPS_CACHE") else statement)

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", cursor)
    # BEGIN and COMMIT are round trips of their own (asyncpg sends BEGIN before the first statement).
    event.listen(sync, "begin", lambda _conn: counter.note("BEGIN"))
    event.listen(sync, "commit", lambda _conn: counter.note("COMMIT"))
    event.listen(sync, "rollback", lambda _conn: counter.note("ROLLBACK"))


@dataclass
class Replica:
    app: FastAPI
    client: httpx.AsyncClient


@pytest.fixture(scope="module")
async def replica(platform: Platform) -> AsyncIterator[Replica]:
    """An outcomes replica in this process, with its group commit as configured by the platform."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in platform.env.items():
            if name.startswith("OUTCOMES_"):
                env.setenv(name, value)
        env.setenv("OUTCOMES_WEBHOOK_DISPATCHER", "false")
        settings = Settings()
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the outcomes replica did not start"
        await asyncio.sleep(0.05)
    try:
        async with new_client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            yield Replica(app, client)
    finally:
        server.should_exit = True
        await task


@contextmanager
def counted(counter: Counter) -> Iterator[list[str]]:
    counter.statements = []
    counter.counting = True
    try:
        yield counter.statements
    finally:
        counter.counting = False


def within_bound(kind: str, statements: list[str]) -> None:
    listing = "\n  ".join(statements)
    assert len(statements) <= BOUND, f"{kind}: {len(statements)} round trips\n  {listing}"


async def test_a_single_write_of_each_kind_costs_single_digit_round_trips(
    platform: Platform, replica: Replica, contracts: httpx.AsyncClient
) -> None:
    cast: Cast = await make_cast(platform)
    counter = Counter(str(cast.partnership_id))
    install(replica.app.state.engine, counter)
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    outcomes = replica.client
    counts: dict[str, list[str]] = {}
    for n in range(2):  # the first of each warms the connection's prepared statements
        with counted(counter) as enrolled:
            person = await enrol(
                outcomes,
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(9100 + n),
                municipality_code="657",
                enrolment_date=TODAY - timedelta(days=60),
            )
        with counted(counter) as confirmed:
            await confirm(outcomes, cast.payer_a, person["id"])
        with counted(counter) as claimed:
            made = await claim(outcomes, cast.provider, person["id"], "job_start", TODAY - timedelta(days=5))
        with counted(counter) as verified:
            decided = await decide(outcomes, cast.payer_a, made["id"], "verified")
        assert decided["status"] == "verified", decided
        counts = {
            "enrolment": enrolled,
            "eligibility confirmation": confirmed,
            "claim": claimed,
            "verification": verified,
        }
    for kind, statements in counts.items():
        print(f"{kind}: {len(statements)}\n  " + "\n  ".join(statements))
    for kind, statements in counts.items():
        within_bound(kind, statements)
