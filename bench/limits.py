"""The database's raw limits, measured with asyncpg directly (no ORM, no HTTP, no validation).

Rows are shaped like what Effekt writes and serves: a claim-sized row for INSERT and COPY, and the real
ledger rows of the outcome database for the keyset SELECT + JSON serialisation that a feed page needs.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from bench.loadgen import Run, drive
from bench.seed import plain_dsn
from effekt.embedded_pg import asyncpg_url

CLAIM_TABLE = """
CREATE TABLE bench_claims (
    id uuid PRIMARY KEY,
    partnership_id uuid NOT NULL,
    participant_id uuid NOT NULL,
    outcome_code varchar(100) NOT NULL,
    achievement_date date NOT NULL,
    evidence_reference varchar(500),
    status varchar(20) NOT NULL DEFAULT 'claimed',
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
CLAIM_COLUMNS = (
    "id",
    "partnership_id",
    "participant_id",
    "outcome_code",
    "achievement_date",
    "evidence_reference",
)


def claim_row(partnership_id: UUID) -> tuple[Any, ...]:
    return (
        uuid.uuid4(),
        partnership_id,
        uuid.uuid4(),
        "job_start",
        date(2026, 10, 1),
        "eIndkomst extract 2026-11",
    )


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A fresh, uniquely named database for the bare tables, dropped afterwards."""
    name = f"effekt_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(plain_dsn(asyncpg_url(server_url, "postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield plain_dsn(asyncpg_url(server_url, name))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _fresh_claims_table(conn: asyncpg.Connection) -> None:
    await conn.execute("DROP TABLE IF EXISTS bench_claims")
    await conn.execute(CLAIM_TABLE)


async def single_inserts(dsn: str, *, count: int, concurrency: int, time_cap: float) -> Run:
    """`count` single-row INSERTs, each its own transaction, from `concurrency` connections."""
    setup = await asyncpg.connect(dsn)
    try:
        await _fresh_claims_table(setup)
    finally:
        await setup.close()
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    partnership_id = uuid.uuid4()
    sql = (
        "INSERT INTO bench_claims (id, partnership_id, participant_id, outcome_code, achievement_date, "
        "evidence_reference) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    try:

        async def op(_: int) -> None:
            async with pool.acquire() as conn:
                await conn.execute(sql, *claim_row(partnership_id))

        return await drive(op, count=count, concurrency=concurrency, time_cap=time_cap)
    finally:
        await pool.close()


async def copy_rows(dsn: str, *, rows: int) -> Run:
    """COPY `rows` claim-sized rows into the bare table in one call (one operation of `rows` units)."""
    conn = await asyncpg.connect(dsn)
    try:
        await _fresh_claims_table(conn)
        partnership_id = uuid.uuid4()
        records = [claim_row(partnership_id) for _ in range(rows)]
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_claims", records=records, columns=CLAIM_COLUMNS)
        seconds = time.perf_counter() - started
        return Run(ops=1, errors=0, seconds=seconds, latencies=[seconds], unit_per_op=rows)
    finally:
        await conn.close()


PAGE_SQL = """
SELECT id, sequence, type, subject, time, actor::text AS actor, data::text AS data, prev_hash, hash
FROM ledger_events WHERE partnership_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3
"""


def _event(row: asyncpg.Record, partnership_id: str) -> dict[str, Any]:
    moment: datetime = row["time"]
    return {
        "specversion": "1.0",
        "id": str(row["id"]),
        "source": f"https://effekt.dk/outcomes/partnerships/{partnership_id}",
        "type": row["type"],
        "subject": row["subject"],
        "time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "datacontenttype": "application/json",
        "partnershipid": partnership_id,
        "sequence": str(row["sequence"]).zfill(19),  # the CloudEvents sequence extension, as the feed
        "data": {"actor": orjson.loads(row["actor"]), **orjson.loads(row["data"])},
        "prevhash": row["prev_hash"],
        "hash": row["hash"],
    }


async def keyset_pull(database_url: str, partnership_id: UUID, *, events: int, page: int) -> Run:
    """Read the partnership's first `events` ledger rows in keyset pages and serialise each page as a
    CloudEvents batch with orjson: what a feed endpoint must at least do, minus HTTP and auth."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    pid = str(partnership_id)
    latencies: list[float] = []
    after, read = 0, 0
    started = time.perf_counter()
    try:
        while read < events:
            t0 = time.perf_counter()
            rows = await conn.fetch(PAGE_SQL, partnership_id, after, min(page, events - read))
            if not rows:
                break
            orjson.dumps([_event(r, pid) for r in rows])
            latencies.append(time.perf_counter() - t0)
            after = rows[-1]["sequence"]
            read += len(rows)
    finally:
        await conn.close()
    seconds = time.perf_counter() - started
    return Run(ops=read, errors=0, seconds=seconds, latencies=latencies, unit_per_op=1.0)
