"""Appending to and reading a partnership's ledger.

Appending locks the partnership's `ledger_heads` row (FOR UPDATE) in the caller's transaction, so the
sequence is gapless and the chain linear even under concurrent writes; the event, its canonical bytes and
the new head commit (or roll back) together with the state change they record.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kit.auth import Principal
from services.outcomes.chain import GENESIS_HASH, ChainReport, canonical_json, link_hash, verify_chain
from services.outcomes.models import LedgerEvent, LedgerHead
from services.outcomes.webhooks.outbox import record_appended, record_appended_many

_BATCH = "effekt.ledger_batch"
EVENT_TYPE_PREFIX = "dk.effekt."
SOURCE = "https://effekt.dk/outcomes"
_EVENT_COLUMNS = tuple(column.key for column in LedgerEvent.__table__.columns)


def _batch_of(session: AsyncSession, partnership_id: UUID) -> LedgerBatch | None:
    batch = session.info.get(_BATCH)
    return batch if isinstance(batch, LedgerBatch) and batch.partnership_id == partnership_id else None


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cloud_event(event: LedgerEvent) -> dict[str, Any]:
    """The CloudEvent as JSON, rebuilt from the event's columns (what the chain hashes)."""
    return {
        "specversion": "1.0",
        "id": str(event.id),
        "source": f"{SOURCE}/partnerships/{event.partnership_id}",
        "type": event.type,
        "subject": event.subject,
        "time": format_time(event.time),
        "datacontenttype": "application/json",
        "partnershipid": str(event.partnership_id),
        "sequence": event.sequence,
        "actor": event.actor,
        "data": event.data,
    }


def actor_of(principal: Principal) -> dict[str, Any]:
    return {
        "organisation_id": str(principal.organisation_id),
        "partner_type": principal.partner_type,
        "kind": principal.kind,
        "subject": principal.subject,
    }


# The hot path's statements, built once (building a statement costs about as much as running it here).
# Parameters are prefixed: one named like a ledger_heads column would join the UPDATE's SET clause.
_LOCK_HEAD = (
    select(LedgerHead)
    .where(LedgerHead.partnership_id == bindparam("head_partnership_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_EVENTS, _HEADS = cast(Table, LedgerEvent.__table__), cast(Table, LedgerHead.__table__)
_INSERT_EVENT = (
    insert(_EVENTS)
    .values({column: bindparam(f"e_{column}") for column in _EVENT_COLUMNS})
    .add_cte(
        update(_HEADS)
        .where(_HEADS.c.partnership_id == bindparam("e_partnership_id"))
        .values(last_sequence=bindparam("e_sequence"), last_hash=bindparam("e_hash"))
        .returning(_HEADS.c.partnership_id)
        .cte("moved_head")
    )
)


async def lock_head(session: AsyncSession, partnership_id: UUID) -> LedgerHead:
    """The partnership's head row, locked until the transaction ends (created on first use)."""
    batch = _batch_of(session, partnership_id)
    if batch is not None:
        return await batch.lock(session)
    # One round trip once the head exists (every append but a partnership's first): lock it directly;
    # create it only when missing, where a concurrent creator's row is kept and locked instead.
    key = {"head_partnership_id": partnership_id}
    head = (await session.execute(_LOCK_HEAD, key)).scalar_one_or_none()
    if head is None:
        await session.execute(
            insert(LedgerHead)
            .values(partnership_id=partnership_id, last_sequence=0, last_hash=GENESIS_HASH)
            .on_conflict_do_nothing()
        )
        head = (await session.execute(_LOCK_HEAD, key)).scalar_one()
    return head


async def append_event(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID,
    *,
    type: str,
    subject: str,
    data: Mapping[str, Any],
) -> LedgerEvent:
    """Append `dk.effekt.<type>` to the partnership's chain in the current transaction."""
    batch = _batch_of(session, partnership_id)
    if batch is not None:
        return await batch.append(session, principal, type=type, subject=subject, data=data)
    head = await lock_head(session, partnership_id)
    now = datetime.now(UTC)
    event = LedgerEvent(
        id=uuid.uuid4(),
        partnership_id=partnership_id,
        sequence=head.last_sequence + 1,
        type=EVENT_TYPE_PREFIX + type,
        subject=subject,
        time=now,
        actor=actor_of(principal),
        data=dict(data),
        prev_hash=head.last_hash,
    )
    event.canonical = canonical_json(cloud_event(event))
    event.hash = link_hash(head.last_hash, event.canonical)
    # The event and the new head in one statement: every round trip here is spent holding the head lock,
    # which every write to the partnership waits for. The head object is updated as loaded, not dirtied.
    await session.execute(_INSERT_EVENT, {f"e_{column}": getattr(event, column) for column in _EVENT_COLUMNS})
    set_committed_value(head, "last_sequence", event.sequence)
    set_committed_value(head, "last_hash", event.hash)
    await record_appended(session, event)
    return event


def chain_item(event: LedgerEvent) -> dict[str, Any]:
    """One event as the ledger endpoint serves it and `verify_chain` reads it."""
    return {
        "sequence": event.sequence,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "event": cloud_event(event),
        "canonical": event.canonical.decode("utf-8", errors="replace"),
    }


async def read_events(
    session: AsyncSession, partnership_id: UUID, *, after: int = 0, limit: int = 100
) -> list[LedgerEvent]:
    rows = await session.execute(
        select(LedgerEvent)
        .where(LedgerEvent.partnership_id == partnership_id, LedgerEvent.sequence > after)
        .order_by(LedgerEvent.sequence)
        .limit(limit)
    )
    return list(rows.scalars())


async def verify_partnership_chain(session: AsyncSession, partnership_id: UUID) -> ChainReport:
    """Verify the whole stored chain in pages, and that the head agrees with its last event."""
    after, prev, checked = 0, GENESIS_HASH, 0
    while True:
        page = await read_events(session, partnership_id, after=after, limit=1000)
        if not page:
            break
        report = verify_chain((chain_item(e) for e in page), prev_hash=prev, start_sequence=after + 1)
        if not report.valid:
            return ChainReport(
                valid=False,
                checked=checked + report.checked,
                last_sequence=report.last_sequence,
                last_hash=report.last_hash,
                broken_at=report.broken_at,
                reason=report.reason,
            )
        checked += report.checked
        after, prev = page[-1].sequence, page[-1].hash
    head = await session.get(LedgerHead, partnership_id)
    head_seq, head_hash = (head.last_sequence, head.last_hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (after, prev):
        return ChainReport(
            valid=False,
            checked=checked,
            last_sequence=after or None,
            last_hash=prev if after else None,
            broken_at=min(after, head_seq) + 1,
            reason="the ledger head does not match the last stored event (events missing or added)",
        )
    return ChainReport(
        valid=True, checked=checked, last_sequence=after or None, last_hash=prev if after else None
    )


class LedgerBatch:
    """Many appends to one partnership's chain in one transaction, written together at the end.

    The head is locked once, on first use; events are chained in memory and inserted, with their outbox
    rows and one NOTIFY, when the batch closes. `mark`/`rewind` drop the events of a unit of work that
    was rolled back to its savepoint, so the chain stays exactly what commits.
    """

    def __init__(self, partnership_id: UUID) -> None:
        self.partnership_id = partnership_id
        self._head: LedgerHead | None = None
        self._start: tuple[int, str] = (0, GENESIS_HASH)
        self.events: list[LedgerEvent] = []

    async def lock(self, session: AsyncSession) -> LedgerHead:
        if self._head is None:
            session.info.pop(_BATCH)  # the real lock, not this batch's
            try:
                self._head = await lock_head(session, self.partnership_id)
            finally:
                session.info[_BATCH] = self
            self._start = (self._head.last_sequence, self._head.last_hash)
        return self._head

    def _tip(self) -> tuple[int, str]:
        return (self.events[-1].sequence, self.events[-1].hash) if self.events else self._start

    async def append(
        self, session: AsyncSession, principal: Principal, *, type: str, subject: str, data: Mapping[str, Any]
    ) -> LedgerEvent:
        await self.lock(session)
        sequence, prev_hash = self._tip()
        event = LedgerEvent(
            id=uuid.uuid4(),
            partnership_id=self.partnership_id,
            sequence=sequence + 1,
            type=EVENT_TYPE_PREFIX + type,
            subject=subject,
            time=datetime.now(UTC),
            actor=actor_of(principal),
            data=dict(data),
            prev_hash=prev_hash,
        )
        event.canonical = canonical_json(cloud_event(event))
        event.hash = link_hash(prev_hash, event.canonical)
        self.events.append(event)
        return event

    def mark(self) -> int:
        return len(self.events)

    def rewind(self, mark: int) -> None:
        del self.events[mark:]

    async def write(self, session: AsyncSession) -> None:
        if not self.events:
            return
        columns = ("id", "partnership_id", "sequence", "type", "subject", "time", "actor", "data")
        rows = [
            {
                **{c: getattr(e, c) for c in columns},
                "canonical": e.canonical,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in self.events
        ]
        await session.execute(insert(LedgerEvent), rows)
        sequence, last_hash = self._tip()
        await session.execute(
            update(LedgerHead)
            .where(LedgerHead.partnership_id == self.partnership_id)
            .values(last_sequence=sequence, last_hash=last_hash)
            .execution_options(synchronize_session=False)
        )
        await record_appended_many(session, self.partnership_id, self.events)
        self.events = []


@asynccontextmanager
async def batched(session: AsyncSession, partnership_id: UUID) -> AsyncIterator[LedgerBatch]:
    """Within the block, `append_event` for this partnership goes to one `LedgerBatch`, written on exit."""
    if _BATCH in session.info:
        raise RuntimeError("ledger batches do not nest")
    batch = LedgerBatch(partnership_id)
    session.info[_BATCH] = batch
    try:
        yield batch
    finally:
        del session.info[_BATCH]
    await batch.write(session)
