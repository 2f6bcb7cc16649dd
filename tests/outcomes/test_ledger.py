"""The ledger is append-only in the database, and tampering done directly in SQL is caught, both by the
verification endpoint and by the offline `verify_chain` over the ledger as served."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from services.outcomes.chain import main as verify_file
from services.outcomes.chain import verify_chain
from services.outcomes.ledger.service import append_event
from tests.outcomes.integrations.support import WRITER, ledger_engine
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    whole_ledger,
)
from tests.outcomes.test_privacy import outcomes_dsn


async def _history(cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient) -> None:
    """Five events: enrolment, eligibility, claim, rejection... and a second enrolment."""
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(1),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=20),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    claimed = await claim(outcomes, cast.provider, person["id"], "job_start", TODAY - timedelta(days=2))
    await decide(outcomes, cast.payer_a, claimed["id"], "rejected", reason="No payslip")
    await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(2),
        municipality_code="791",
        enrolment_date=TODAY - timedelta(days=20),
    )


async def _verification(outcomes: httpx.AsyncClient, cast: Cast) -> dict[str, object]:
    return dict(
        check(
            await outcomes.get(
                f"/v1/partnerships/{cast.partnership_id}/ledger/verification", headers=cast.investor.headers
            ),
            200,
        )
    )


async def _tamper(platform: Platform, partnership_id: UUID, sql: str) -> None:
    """Bypass the append-only triggers the way only a database superuser could."""
    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(sql, partnership_id)
    finally:
        await conn.close()


async def test_the_database_refuses_to_update_or_delete_ledger_events(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    await _history(cast, contracts, outcomes)
    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        for sql in (
            "UPDATE ledger_events SET type = 'dk.effekt.forged' WHERE partnership_id = $1",
            "DELETE FROM ledger_events WHERE partnership_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql, cast.partnership_id)
    finally:
        await conn.close()
    assert (await _verification(outcomes, cast))["valid"] is True


@pytest.mark.parametrize(
    ("sql", "broken_at"),
    [
        # Someone rewrites the rejection's reason.
        (
            "UPDATE ledger_events SET data = jsonb_set(data, '{reason}', '\"Verified after all\"')"
            " WHERE partnership_id = $1 AND sequence = 4",
            4,
        ),
        # ...or the stored bytes, leaving the columns alone (the reason is only a commitment there).
        (
            "UPDATE ledger_events SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'),"
            " '\"after_dispute\":false', '\"after_dispute\":true'), 'UTF8')"
            " WHERE partnership_id = $1 AND sequence = 4",
            4,
        ),
        # ...or edits an event and overwrites its hash (a consistent rehash is covered in test_chain.py).
        (
            "UPDATE ledger_events SET actor = '{}'::jsonb, hash = repeat('a', 64)"
            " WHERE partnership_id = $1 AND sequence = 2",
            2,
        ),
        # ...or deletes an event from the middle.
        ("DELETE FROM ledger_events WHERE partnership_id = $1 AND sequence = 3", 3),
        # ...or the last one (the head row still remembers it).
        ("DELETE FROM ledger_events WHERE partnership_id = $1 AND sequence = 5", 5),
    ],
    ids=["data", "canonical-bytes", "rehash", "delete-middle", "delete-last"],
)
async def test_tampering_in_sql_is_pinpointed_by_chain_verification(
    platform: Platform,
    cast: Cast,
    contracts: httpx.AsyncClient,
    outcomes: httpx.AsyncClient,
    tmp_path: Path,
    sql: str,
    broken_at: int,
) -> None:
    await _history(cast, contracts, outcomes)
    # The provider reads every event in full (an investor's person-level events are sealed stubs, whose
    # content it cannot check: test_ledger_privacy.py).
    intact = await whole_ledger(outcomes, cast.provider, cast.partnership_id)
    assert verify_chain(intact).valid
    await _tamper(platform, cast.partnership_id, sql)

    report = await _verification(outcomes, cast)
    assert (report["valid"], report["broken_at"]) == (False, broken_at)
    served = await whole_ledger(outcomes, cast.provider, cast.partnership_id)
    offline = verify_chain(served)
    if broken_at == 5 and len(served) == 4:
        # A served ledger cut short at the end looks whole on its own; compare with the head you last saw.
        assert offline.valid
        assert offline.last_hash != intact[-1]["hash"]
    else:
        assert (offline.valid, offline.broken_at) == (False, broken_at)
        ledger_file = tmp_path / "ledger.json"
        ledger_file.write_text(json.dumps({"items": served}))
        assert verify_file([str(ledger_file)]) == 1


async def test_the_events_of_a_rolled_back_transaction_are_never_written(platform: Platform) -> None:
    partnership_id = uuid4()
    async with (
        ledger_engine(platform) as engine,
        async_sessionmaker(engine, expire_on_commit=False)() as session,
    ):
        await session.begin()
        await append_event(session, WRITER, partnership_id, type="test.undone", subject="t/1", data={})
        await session.rollback()
        async with session.begin():  # the same session, a new transaction
            await append_event(session, WRITER, partnership_id, type="test.kept", subject="t/2", data={})
    connection = await asyncpg.connect(outcomes_dsn(platform))
    try:
        rows = await connection.fetch(
            "SELECT sequence, type FROM ledger_events WHERE partnership_id = $1 ORDER BY sequence",
            partnership_id,
        )
    finally:
        await connection.close()
    assert [(r["sequence"], r["type"]) for r in rows] == [(1, "dk.effekt.test.kept")]
