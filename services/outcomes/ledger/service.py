"""Appending to and reading a partnership's ledger.

`append_event` records an event in the session; it is chained and written when the transaction commits
(`write_pending`, run by SQLAlchemy's `before_commit`): the partnerships' `ledger_heads` rows are locked
(FOR UPDATE, in one statement), each partnership's events get its next gapless sequence numbers and
hashes, and the events, the new heads, their webhook outbox rows and a NOTIFY per partnership are
written in one more — so the event commits (or rolls back) with the state change it records, and each
chain stays linear under concurrent writers. Writing at commit keeps the head lock, which serialises
every write to a partnership, held only for those statements and the COMMIT, not for the rest of the
request. Enrolment still takes the lock early (`lock_head`): it serialises duplicate
detection per partnership.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Uuid, any_, bindparam, event, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from kit.auth import Principal
from services.outcomes import chain
from services.outcomes.access import Audience
from services.outcomes.chain import GENESIS_HASH, ChainReport, canonical_json, verify_chain
from services.outcomes.ledger import disclosures
from services.outcomes.ledger.outbox import DELIVERIES, delivery_parameters
from services.outcomes.models import LedgerEvent, LedgerHead

EVENT_TYPE_PREFIX = "dk.effekt."


RECORD_FORMAT = 2  # the format new events are chained in (chain.py)


def stored_record(event: LedgerEvent) -> dict[str, Any]:
    """The stored event's ledger record, rebuilt from its columns."""
    return chain.ledger_record(
        {c: getattr(event, c) for c in chain.HASHED_FIELDS}, record_format=event.record_format
    )


def cloud_event(event: LedgerEvent) -> dict[str, Any]:
    """The stored event's CloudEvent as JSON, rebuilt from its columns (`chain.event_of` its record), as
    hashed: a format-2 person-level event's values are commitments."""
    return chain.event_of(stored_record(event))


def actor_of(principal: Principal) -> dict[str, Any]:
    return {
        "organisation_id": str(principal.organisation_id),
        "partner_type": principal.partner_type,
        "kind": principal.kind,
        "subject": principal.subject,
    }


# The hot path's statements, built once (building a statement costs about as much as running it here).
# Parameters are prefixed: one named like a ledger_heads column would join the UPDATE's SET clause. The
# heads are locked in partnership id order, so two transactions never wait on each other's in a cycle.
_LOCK_HEADS = (
    select(LedgerHead)
    .where(LedgerHead.partnership_id == any_(bindparam("head_partnership_ids", type_=ARRAY(Uuid))))
    .order_by(LedgerHead.partnership_id)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_PENDING = "effekt.ledger_pending"
_LOCKED = "effekt.ledger_locked"  # (root transaction, {partnership id: head}) locked outside any savepoint

# The events of every partnership written, their disclosures, the heads' moves, the outbox rows and the
# NOTIFYs, in one statement (one round trip once the heads are locked). Foreign keys are checked at the
# statement's end, when the events its other parts refer to exist.
_WRITE_EVENTS = """
    WITH events AS (
        INSERT INTO ledger_events (id, partnership_id, sequence, type, subject, time, actor, data,
                                   canonical, prev_hash, hash, record_format)
        SELECT e.id, e.partnership_id, e.sequence, e.type, e.subject,
               CAST(:time AS timestamptz), e.actor, e.data, e.canonical, e.prev_hash, e.hash,
               CAST(:record_format AS smallint)
        FROM unnest(
            CAST(:ids AS uuid[]), CAST(:partnerships AS uuid[]), CAST(:sequences AS bigint[]),
            CAST(:types AS text[]), CAST(:subjects AS text[]), CAST(:actors AS jsonb[]),
            CAST(:data AS jsonb[]), CAST(:canonicals AS bytea[]), CAST(:prev_hashes AS text[]),
            CAST(:hashes AS text[])
        ) AS e(id, partnership_id, sequence, type, subject, actor, data, canonical, prev_hash, hash)
        RETURNING 1
    ),
    disclosed AS (
        INSERT INTO ledger_disclosures (event_id, path, partnership_id, participant_id, salt, value)
        SELECT d.event_id, d.path, d.partnership_id, d.participant_id, d.salt, d.value
        FROM unnest(
            CAST(:d_events AS uuid[]), CAST(:d_paths AS text[]), CAST(:d_partnerships AS uuid[]),
            CAST(:d_participants AS uuid[]), CAST(:d_salts AS text[]), CAST(:d_values AS jsonb[])
        ) AS d(event_id, path, partnership_id, participant_id, salt, value)
        RETURNING 1
    ),
    head AS (
        UPDATE ledger_heads AS h
        SET last_sequence = n.sequence, last_hash = n.hash
        FROM unnest(
            CAST(:head_partnerships AS uuid[]), CAST(:head_sequences AS bigint[]),
            CAST(:head_hashes AS text[])
        ) AS n(partnership_id, sequence, hash)
        WHERE h.partnership_id = n.partnership_id
        RETURNING 1
    ),
"""
_WRITE = text(_WRITE_EVENTS + DELIVERIES)


def _json(value: Any) -> str:
    """jsonb travels as text and is parsed by PostgreSQL, as the column type's own binding does."""
    return orjson.dumps(value).decode()


async def lock_head(session: AsyncSession, partnership_id: UUID) -> LedgerHead:
    """The partnership's head row, locked until the transaction ends (created on first use)."""
    return await session.run_sync(_lock_head, partnership_id)


def _lock_head(session: Session, partnership_id: UUID) -> LedgerHead:
    return _lock_heads(session, [partnership_id])[partnership_id]


def _lock_heads(session: Session, partnership_ids: list[UUID]) -> dict[UUID, LedgerHead]:
    """The partnerships' heads, locked in id order (created on first use). Locked already in this
    transaction (enrolment locks first, the append at commit again): no round trip. Else one once the
    heads exist (every append but a partnership's first): lock them directly; create only those missing,
    where a concurrent creator's row is kept and locked instead. A lock taken inside a savepoint is not
    remembered: rolling the savepoint back releases it."""
    root = session.get_transaction()
    locked: tuple[object, dict[UUID, LedgerHead]] | None = session.info.get(_LOCKED)
    known = locked[1] if locked is not None and locked[0] is root else {}
    heads = {p: known[p] for p in partnership_ids if p in known}
    wanted = sorted({p for p in partnership_ids if p not in heads})
    if wanted:
        found = session.execute(_LOCK_HEADS, {"head_partnership_ids": wanted}).scalars()
        heads.update((head.partnership_id, head) for head in found)
        missing = [p for p in wanted if p not in heads]
        if missing:
            session.execute(
                insert(LedgerHead)
                .values(
                    [{"partnership_id": p, "last_sequence": 0, "last_hash": GENESIS_HASH} for p in missing]
                )
                .on_conflict_do_nothing()
            )
            created = session.execute(_LOCK_HEADS, {"head_partnership_ids": missing}).scalars()
            heads.update((head.partnership_id, head) for head in created)
        if root is not None and session.get_nested_transaction() is None:
            if locked is None or locked[0] is not root:
                locked = session.info[_LOCKED] = (root, {})
            locked[1].update((p, heads[p]) for p in wanted)
    return heads


@dataclass(frozen=True, slots=True)
class _Pending:
    partnership_id: UUID
    type: str
    subject: str
    actor: Any
    data: dict[str, Any]
    participant_id: UUID | None
    disclosures: list[tuple[str, str, Any]]


def _pending(session: AsyncSession | Session) -> list[_Pending]:
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    return pending


async def append_event(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID,
    *,
    type: str,
    subject: str,
    data: Mapping[str, Any],
    participant_id: UUID | None = None,
) -> None:
    """Append `dk.effekt.<type>` to the partnership's chain when the current transaction commits. A
    person-level event names its participant, whose values are then committed (ledger/disclosures.py)."""
    if "actor" in data:  # the delivered event carries the actor there (chain.event_of)
        raise ValueError("an event's data may not hold `actor`")
    full_type = EVENT_TYPE_PREFIX + type
    if disclosures.is_person_level(full_type) != (participant_id is not None):
        raise ValueError(f"{full_type} names its participant exactly when it is person-level")
    actor = actor_of(principal)
    if participant_id is None:
        _pending(session).append(_Pending(partnership_id, full_type, subject, actor, dict(data), None, []))
        return
    committed = disclosures.commit(subject, actor, data)
    _pending(session).append(
        _Pending(
            partnership_id,
            full_type,
            committed.subject,
            committed.actor,
            committed.data,
            participant_id,
            committed.disclosures,
        )
    )


def mark(session: AsyncSession) -> int:
    """Where the events recorded so far end, to `rewind` to after rolling back to a savepoint."""
    return len(_pending(session))


def rewind(session: AsyncSession, to: int) -> None:
    del _pending(session)[to:]


def write_pending(session: Session) -> None:
    """Chain and write the events recorded in the session: every partnership's head locked in one
    statement (in id order, so two transactions never wait on each other's heads in a cycle), and every
    event, each partnership's chained on from its head in the order recorded, written in one more."""
    pending: list[_Pending] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    by_partnership: dict[UUID, list[_Pending]] = {}
    for item in pending:
        by_partnership.setdefault(item.partnership_id, []).append(item)
    partnerships = sorted(by_partnership)
    heads = _lock_heads(session, partnerships)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    disclosed: list[dict[str, Any]] = []
    participants: list[UUID | None] = []
    moved: list[tuple[LedgerHead, int, str]] = []
    for partnership_id in partnerships:
        head = heads[partnership_id]
        sequence, prev_hash = head.last_sequence, head.last_hash
        for item in by_partnership[partnership_id]:
            sequence += 1
            row: dict[str, Any] = {
                "id": uuid.uuid4(),
                "partnership_id": partnership_id,
                "sequence": sequence,
                "type": item.type,
                "subject": item.subject,
                "time": now,
                "actor": item.actor,
                "data": item.data,
                "prev_hash": prev_hash,
                "record_format": RECORD_FORMAT,
            }
            participants.append(item.participant_id)
            record = chain.ledger_record(row, record_format=RECORD_FORMAT)
            row["canonical"] = canonical_json(record)
            row["hash"] = prev_hash = chain.record_hash(prev_hash, record, row["canonical"])
            rows.append(row)
            disclosed.extend(
                {
                    "event_id": row["id"],
                    "path": path,
                    "partnership_id": partnership_id,
                    "participant_id": item.participant_id,
                    "salt": salt,
                    "value": value,
                }
                for path, salt, value in item.disclosures
            )
        moved.append((head, sequence, prev_hash))
    session.execute(
        _WRITE,
        {
            **delivery_parameters(),
            "time": now,
            "record_format": RECORD_FORMAT,
            "ids": [r["id"] for r in rows],
            "partnerships": [r["partnership_id"] for r in rows],
            "sequences": [r["sequence"] for r in rows],
            "types": [r["type"] for r in rows],
            "subjects": [r["subject"] for r in rows],
            "actors": [_json(r["actor"]) for r in rows],
            "data": [_json(r["data"]) for r in rows],
            "canonicals": [r["canonical"] for r in rows],
            "prev_hashes": [r["prev_hash"] for r in rows],
            "hashes": [r["hash"] for r in rows],
            "participants": participants,
            "d_events": [d["event_id"] for d in disclosed],
            "d_paths": [d["path"] for d in disclosed],
            "d_partnerships": [d["partnership_id"] for d in disclosed],
            "d_participants": [d["participant_id"] for d in disclosed],
            "d_salts": [d["salt"] for d in disclosed],
            "d_values": [None if d["value"] is None else _json(d["value"]) for d in disclosed],
            "head_partnerships": partnerships,
            "head_sequences": [sequence for _, sequence, _ in moved],
            "head_hashes": [last_hash for _, _, last_hash in moved],
        },
    )
    for head, sequence, last_hash in moved:
        set_committed_value(head, "last_sequence", sequence)
        set_committed_value(head, "last_hash", last_hash)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        write_pending(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # The whole transaction was rolled back: the changes its events record never happened, so a later
    # transaction in the same session must not write them.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def chain_item(event: LedgerEvent) -> dict[str, Any]:
    """One event as the ledger endpoint serves it and `verify_chain` reads it."""
    return {
        "sequence": event.sequence,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "event": cloud_event(event),
        "canonical": event.canonical.decode("utf-8", errors="replace"),
    }


async def shaped_items(
    session: AsyncSession, events: list[LedgerEvent], audiences: Mapping[UUID, Audience]
) -> list[dict[str, Any]]:
    """Events as the ledger endpoint serves them to a reader: shaped for its audience
    (ledger/disclosures.py); the canonical bytes only with an event it may see in full."""
    shaped = await disclosures.shape(
        session,
        [
            disclosures.Stored(e.id, e.partnership_id, e.type, e.canonical, e.record_format, stored_record(e))
            for e in events
        ],
        audiences,
        person_extensions=False,
    )
    return [
        {
            "sequence": e.sequence,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
            "event": item.event,
            "canonical": e.canonical.decode("utf-8", errors="replace") if item.visible else "",
        }
        for e, item in zip(events, shaped, strict=True)
    ]


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
