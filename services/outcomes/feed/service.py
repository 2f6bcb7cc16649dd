"""The outcome feed: ledger events as CloudEvents, per partnership in sequence order, behind an opaque
cursor that is a map partnership → last sequence delivered.

Why a per-partnership cursor: the ledger assigns each partnership a gapless `sequence` under the lock on
its `ledger_heads` row, so within a partnership commit order *is* sequence order — event n+1 cannot commit
before event n. A reader asking for `sequence > last_seen` therefore never skips an event that commits
later, which a global id or timestamp cursor would (a reader that saw id 1001 misses id 1000 committed
after). A page is ordered by (partnership, sequence), so it is stable and replayable from any cursor.

What a reader sees: each event shaped for the reader's audience in its partnership
(ledger/disclosures.py, the same on every channel): partnership-level events in clear; a person-level
event in full, with its disclosed values and salts and the person-level extensions (`pseudonym`,
`participantsegment`, `claimfacts`), for the audiences `access.Audience.sees` admits, and as a sealed stub
for every other. The chain fields are extensions (`ledgerhash`, `ledgerprevhash`); a verifier rebuilds
the record with `chain.record_of`, which ignores them. A `type` filter matches the type delivered, so a
reader that receives sealed stubs asks for `dk.effekt.ledger.sealed`, and a filter on a person-level type
returns only the events it may see.

Items are rendered from the stored canonical bytes (the record as hashed), not from the columns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import driver_connection
from kit.problems import BadRequest
from services.outcomes import chain
from services.outcomes.access import Audience
from services.outcomes.ledger import disclosures
from services.outcomes.ledger.disclosures import Shaped
from services.outcomes.ledger.outbox import CHANNEL

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/cloudevents-batch+json"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT = 30.0
# Added to each item beside the hashed record's attributes; `chain.record_of` ignores all but
# `ledgersalts`, which it turns back into the commitments.
EXTENSIONS = ("ledgerhash", "ledgerprevhash", *disclosures.PERSON_EXTENSIONS)

Cursor = dict[UUID, int]


# --- cursor ---------------------------------------------------------------------------------------------


def encode_cursor(cursor: Mapping[UUID, int]) -> str:
    raw = json.dumps({str(p): s for p, s in sorted(cursor.items())}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None, field: str = "after") -> Cursor:
    if not value:
        return {}
    try:
        raw = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not isinstance(raw, dict):
            raise TypeError
        # We write ASCII UUIDs and JSON integers; UUID() and int() would also take other scripts' digits.
        if not all(p.isascii() and type(s) is int for p, s in raw.items()):
            raise TypeError
        cursor = {UUID(p): s for p, s in raw.items()}
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest.field(field, "not a cursor this API issued") from None
    if any(s < 0 for s in cursor.values()):
        raise BadRequest.field(field, "not a cursor this API issued")
    return cursor


# --- reading --------------------------------------------------------------------------------------------


class FeedItem(NamedTuple):
    # A named tuple, not a frozen dataclass: a page makes a thousand, and a frozen dataclass's __init__
    # (an object.__setattr__ per field) cost more than rendering a sealed stub.
    partnership_id: UUID
    sequence: int
    type: str
    body: bytes  # the CloudEvent as JSON


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[FeedItem]
    cursor: Cursor

    def batch(self) -> bytes:
        return b"[" + b",".join(item.body for item in self.items) + b"]"


def render(shaped: Shaped, hash_: str, prev_hash: str) -> bytes:
    """The shaped CloudEvent with the feed's chain extensions, added to the shaped event itself (not a
    copy of it: `disclosures.shape` makes each event afresh for its caller, and a page renders a thousand)."""
    event = shaped.event
    event["ledgerhash"], event["ledgerprevhash"] = hash_, prev_hash
    return orjson.dumps(event)


# Each partnership's events after its own cursor position, through the (partnership_id, sequence) index.
# A type filter is applied to the delivered type afterwards; here it also admits person-level events when
# the sealed type is asked for ($5). `n` is the partnership's place in the page's list ($1, 1-based), so
# the rows need not carry (nor Python hash) a UUID each.
_PAGE_SQL = """
SELECT c.n, e.sequence, e.type, e.canonical, e.hash, e.prev_hash, e.id, e.record_format
FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS c(partnership_id, after, n)
CROSS JOIN LATERAL (
    SELECT l.sequence, l.type, l.canonical, l.hash, l.prev_hash, l.id, l.record_format
    FROM ledger_events AS l
    WHERE l.partnership_id = c.partnership_id AND l.sequence > c.after
      AND ($3::text[] IS NULL OR l.type = ANY($3::text[]) OR l.type LIKE ANY($5::text[]))
    ORDER BY l.sequence
    LIMIT $4
) AS e
ORDER BY c.n, e.sequence
LIMIT $4
"""
# One partnership (a reader naming it, or a member of one): the same rows straight from the index, without
# the lateral join and the sort of the page's wide rows that the many-partnership form needs.
_ONE_PARTNERSHIP_SQL = """
SELECT 1::bigint AS n, l.sequence, l.type, l.canonical, l.hash, l.prev_hash, l.id, l.record_format
FROM ledger_events AS l
WHERE l.partnership_id = ($1::uuid[])[1] AND l.sequence > ($2::bigint[])[1]
  AND ($3::text[] IS NULL OR l.type = ANY($3::text[]) OR l.type LIKE ANY($5::text[]))
ORDER BY l.sequence
LIMIT $4
"""


async def read_page(
    session: AsyncSession,
    audiences: Mapping[UUID, Audience],
    cursor: Mapping[UUID, int],
    *,
    types: Sequence[str] = (),
    limit: int = DEFAULT_LIMIT,
) -> FeedPage:
    """Events after the cursor, in (partnership, sequence) order, shaped for each partnership's audience."""
    next_cursor = {p: cursor.get(p, 0) for p in audiences} | dict(cursor)
    if not audiences:
        return FeedPage([], next_cursor)
    partnerships = sorted(audiences)
    # Straight through asyncpg: a page is up to 1 000 rows, and SQLAlchemy's row processing cost more
    # than the query (see docs/benchmarks.md).
    connection = await driver_connection(session)
    sealed_asked = chain.SEALED_TYPE in types
    rows = await connection.fetch(
        _ONE_PARTNERSHIP_SQL if len(partnerships) == 1 else _PAGE_SQL,
        partnerships,
        [cursor.get(p, 0) for p in partnerships],
        list(types) or None,
        limit,
        disclosures.like_patterns() if sealed_asked else [],
    )
    shaped = await disclosures.shape(
        session,
        [
            disclosures.Stored(id_, partnerships[n - 1], type_, canonical, record_format)
            for n, _, type_, canonical, _, _, id_, record_format in rows
        ],
        audiences,
    )
    wanted = set(types)
    last: dict[int, int] = {}
    items = []
    for (n, sequence, _, _, hash_, prev_hash, _, _), event in zip(rows, shaped, strict=True):
        last[n] = sequence
        delivered = event.event["type"]
        if wanted and delivered not in wanted:
            continue
        items.append(FeedItem(partnerships[n - 1], sequence, delivered, render(event, hash_, prev_hash)))
    for n, sequence in last.items():
        next_cursor[partnerships[n - 1]] = sequence
    return FeedPage(items, next_cursor)


def chain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A feed item as `chain.verify_chain` reads it (which ignores the feed's extensions)."""
    return {
        "sequence": chain.parse_sequence(item["sequence"]),
        "prev_hash": item["ledgerprevhash"],
        "hash": item["ledgerhash"],
        "event": item,
    }


# --- waking long-polls ----------------------------------------------------------------------------------


class Notifier:
    """One LISTEN connection per process, fanning NOTIFYs out to waiting requests. If the connection is
    lost it is re-opened after a poll interval; meanwhile waiters wake by that interval and re-read, so a
    listener outage slows the feed, never stalls it."""

    def __init__(self, dsn: str, *, poll_interval: float = 5.0) -> None:
        self._dsn = dsn
        self.poll_interval = poll_interval
        self._connection: asyncpg.Connection | None = None
        self._waiters: dict[asyncio.Event, frozenset[str]] = {}
        self._reconnect: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        try:
            connection = await asyncpg.connect(
                self._dsn, server_settings={"application_name": "effekt-feed-listener"}
            )
            await connection.add_listener(CHANNEL, self._notified)
            connection.add_termination_listener(self._lost)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("feed.listen_failed", error=str(exc))
            self._schedule_reconnect()
            return
        self._connection = connection

    def _lost(self, _conn: object) -> None:
        log.warning("feed.listen_lost")
        self._connection = None
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        if not self._stopped and (self._reconnect is None or self._reconnect.done()):
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_later())

    async def _reconnect_later(self) -> None:
        await asyncio.sleep(self.poll_interval)
        if not self._stopped:
            await self.start()

    async def stop(self) -> None:
        self._stopped = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        for event, partnerships in list(self._waiters.items()):
            if payload in partnerships:
                event.set()

    @contextlib.asynccontextmanager
    async def waiter(self, partnerships: Iterable[UUID]) -> AsyncIterator[asyncio.Event]:
        """Register before reading, so an event committed between the read and the wait still wakes it."""
        event = asyncio.Event()
        self._waiters[event] = frozenset(str(p) for p in partnerships)
        try:
            yield event
        finally:
            self._waiters.pop(event, None)


def asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
