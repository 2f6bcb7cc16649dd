"""A partnership's whole ledger as NDJSON, for archiving and offline verification.

Each line is one chain item, `{"sequence", "prev_hash", "hash", "event"}`, with `event` the CloudEvent
rendered from the stored record (`chain.event_of`, as the feed delivers it, without its extensions), so
`chain.verify_chain(json.loads(line) for line in file)` checks the file with nothing of the service. The
hashed records carry no personal data by construction (see feed/service.py), so every partner receives the
same export. It is read in pages of `PAGE` events, each page its own short transaction, in sequence order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.outcomes import chain
from services.outcomes.models import LedgerEvent

MEDIA_TYPE = "application/x-ndjson"
PAGE = 1000


def export_line(sequence: int, prev_hash: str, hash_: str, canonical: bytes) -> bytes:
    event = chain.event_of(orjson.loads(canonical))
    item = {"sequence": sequence, "prev_hash": prev_hash, "hash": hash_, "event": event}
    return orjson.dumps(item) + b"\n"


async def export_lines(
    sessionmaker: async_sessionmaker[AsyncSession], partnership_id: UUID, *, upto: int | None = None
) -> AsyncIterator[bytes]:
    """The ledger from sequence 1 up to `upto` (the head when the export started: a consistent cut)."""
    after = 0
    while True:
        async with sessionmaker() as session:
            query = (
                select(LedgerEvent.sequence, LedgerEvent.prev_hash, LedgerEvent.hash, LedgerEvent.canonical)
                .where(LedgerEvent.partnership_id == partnership_id, LedgerEvent.sequence > after)
                .order_by(LedgerEvent.sequence)
                .limit(PAGE)
            )
            if upto is not None:
                query = query.where(LedgerEvent.sequence <= upto)
            rows = (await session.execute(query)).all()
        if not rows:
            return
        yield b"".join(export_line(*row) for row in rows)
        after = rows[-1][0]
