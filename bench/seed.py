"""Seeding a partnership's ledger straight into the outcome database, for the bench only.

A million events through the API would take hours, so the bench appends them with COPY in one
transaction holding the partnership's `ledger_heads` row lock, exactly as the service appends: each seeded
event is a copy of one of the partnership's real events (same type, subject, actor and data, so every
reader and redaction handles it as it would a real one) with a new id, sequence and time, its canonical
bytes and hash built by the same pure `chain` functions the service uses. The chain therefore
stays valid (`GET .../ledger/verification` agrees), and writes through the API continue it afterwards.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.outcomes.chain import HASHED_FIELDS, canonical_json, ledger_record, link_hash

COLUMNS = (
    "id",
    "partnership_id",
    "sequence",
    "type",
    "subject",
    "time",
    "actor",
    "data",
    "canonical",
    "prev_hash",
    "hash",
)
BATCH = 20_000


class SeedingUnsupported(RuntimeError):
    """The ledger table has grown a required column this seeder does not know how to fill."""


@dataclass(slots=True)
class _Event:
    """Just the columns `chain.ledger_record` reads (`chain.HASHED_FIELDS`)."""

    id: uuid.UUID
    partnership_id: uuid.UUID
    sequence: int
    type: str
    subject: str
    time: datetime
    actor: Any
    data: Any


async def vacuum_analyse(database_urls: Iterable[str]) -> None:
    """VACUUM and ANALYZE each database's tables, as autovacuum would after seeding and earlier rounds
    (this machine's server runs with autovacuum off; a production server does not). Without the VACUUM,
    the dead row versions of earlier rounds' decisions and cap counters halved verifications' throughput
    (measured: tiered verifications 350-420/s after 6 000 verifications elsewhere, 740/s after a VACUUM).
    Then a CHECKPOINT: what VACUUM dirtied (hint bits on a million freshly copied ledger rows) is written
    now, not by the background writer during the timed run, whose commits would wait on the same disk
    (verification latency beside a million events: 20 ms without it, 8-11 ms before the VACUUM)."""
    for database_url in database_urls:
        conn = await asyncpg.connect(plain_dsn(database_url))
        try:
            await conn.execute("VACUUM (ANALYZE)")
            # A superuser's (or pg_checkpoint's) right: on a server lent without it, the run goes on.
            with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CHECKPOINT")
        finally:
            await conn.close()


def plain_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


async def seed_ledger(database_url: str, partnership_id: UUID, target: int) -> dict[str, float]:
    """Append copies of the partnership's events until its ledger holds `target` events."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        required = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger_events' "
            "AND is_nullable = 'NO' AND column_default IS NULL AND is_generated = 'NEVER'"
        )
        unknown = sorted({r["column_name"] for r in required} - set(COLUMNS))
        if unknown:
            raise SeedingUnsupported(f"ledger_events requires columns the seeder cannot fill: {unknown}")
        started = time.perf_counter()
        async with conn.transaction():
            head = await conn.fetchrow(
                "SELECT last_sequence, last_hash FROM ledger_heads WHERE partnership_id = $1 FOR UPDATE",
                partnership_id,
            )
            if head is None:
                raise SeedingUnsupported("the partnership has no ledger yet: write one event through the API")
            templates = await conn.fetch(
                "SELECT type, subject, actor::text AS actor, data::text AS data FROM ledger_events "
                "WHERE partnership_id = $1 ORDER BY sequence LIMIT 1000",
                partnership_id,
            )
            sequence, prev = int(head["last_sequence"]), str(head["last_hash"])
            shapes = [
                (t["type"], t["subject"], orjson.loads(t["actor"]), orjson.loads(t["data"]))
                for t in templates
            ]
            base = datetime.now(UTC)
            hashing = 0.0
            while sequence < target:
                rows: list[tuple[Any, ...]] = []
                t0 = time.perf_counter()
                for _ in range(min(BATCH, target - sequence)):
                    sequence += 1
                    type_, subject, actor, data = shapes[sequence % len(shapes)]
                    event = _Event(
                        uuid.uuid4(),
                        partnership_id,
                        sequence,
                        type_,
                        subject,
                        base + timedelta(microseconds=sequence),
                        actor,
                        data,
                    )
                    canonical = canonical_json(ledger_record({c: getattr(event, c) for c in HASHED_FIELDS}))
                    digest = link_hash(prev, canonical)
                    rows.append(
                        (
                            event.id,
                            partnership_id,
                            sequence,
                            type_,
                            subject,
                            event.time,
                            orjson.dumps(actor).decode(),
                            orjson.dumps(data).decode(),
                            canonical,
                            prev,
                            digest,
                        )
                    )
                    prev = digest
                hashing += time.perf_counter() - t0
                await conn.copy_records_to_table("ledger_events", records=rows, columns=COLUMNS)
            await conn.execute(
                "UPDATE ledger_heads SET last_sequence = $2, last_hash = $3 WHERE partnership_id = $1",
                partnership_id,
                sequence,
                prev,
            )
        await conn.execute("ANALYZE ledger_events")
        return {
            "events": float(sequence),
            "seconds": time.perf_counter() - started,
            "hashing_seconds": hashing,
        }
    finally:
        await conn.close()
