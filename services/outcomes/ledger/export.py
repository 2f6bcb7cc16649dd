"""A partnership's whole ledger as NDJSON, for archiving and offline verification.

Each line is one chain item, `{"sequence", "prev_hash", "hash", "event"}`, with `event` the CloudEvent
shaped for the reader's audience as the feed shapes it (ledger/disclosures.py: a person-level event in full
with its salts, or a sealed stub), without the feed's person-level extensions (`pseudonym`, ...), so
`chain.verify_chain(json.loads(line) for line in file)` checks the file with nothing of the service. It
is read in pages of `PAGE` events, each page its own short transaction, in sequence order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.outcomes.access import Audience
from services.outcomes.ledger import disclosures
from services.outcomes.models import LedgerEvent

MEDIA_TYPE = "application/x-ndjson"
PAGE = 1000


def export_line(sequence: int, prev_hash: str, hash_: str, event: dict[str, object]) -> bytes:
    item = {"sequence": sequence, "prev_hash": prev_hash, "hash": hash_, "event": event}
    return orjson.dumps(item) + b"\n"


async def export_lines(
    sessionmaker: async_sessionmaker[AsyncSession],
    partnership_id: UUID,
    audience: Audience,
    *,
    upto: int | None = None,
) -> AsyncIterator[bytes]:
    """The ledger from sequence 1 up to `upto` (the head when the export started: a consistent cut)."""
    after = 0
    while True:
        async with sessionmaker() as session:
            query = (
                select(
                    LedgerEvent.id,
                    LedgerEvent.partnership_id,
                    LedgerEvent.type,
                    LedgerEvent.canonical,
                    LedgerEvent.record_format,
                    LedgerEvent.sequence,
                    LedgerEvent.prev_hash,
                    LedgerEvent.hash,
                )
                .where(LedgerEvent.partnership_id == partnership_id, LedgerEvent.sequence > after)
                .order_by(LedgerEvent.sequence)
                .limit(PAGE)
            )
            if upto is not None:
                query = query.where(LedgerEvent.sequence <= upto)
            rows = (await session.execute(query)).all()
            shaped = await disclosures.shape(
                session,
                [disclosures.Stored(*row[:5]) for row in rows],
                {partnership_id: audience},
                person_extensions=False,
            )
        if not rows:
            return
        yield b"".join(
            export_line(e.sequence, e.prev_hash, e.hash, item.event)
            for e, item in zip(rows, shaped, strict=True)
        )
        after = rows[-1].sequence
