"""Participant and claim tallies per partnership: what the partnership aggregates read, so a dashboard
costs the same at 70 000 participants as at 7.

How they stay exact:

- Writes never touch a tally. Statement-level triggers on `participants` and `outcome_claims` (created in
  the migration `..._create_outcome_tallies.py`) append each statement's net change, grouped, to an
  insert-only delta table in the writer's own transaction. Every write path is covered without knowing
  of it, and concurrent writers never wait on a shared counter row (a hot row would serialise a
  partnership's claims from their INSERT until commit, and invite deadlocks between bulk batches).
- `compact` moves all committed deltas into the tallies in one transaction (DELETE ... RETURNING feeding
  an upsert in key order); an advisory lock lets one replica at a time do it. Each replica's `Compactor`
  tries every second.
- A read adds a partnership's tallies and its pending deltas in one statement, so one snapshot sees each
  delta exactly once: still in the delta table, or (compaction committed) in the tally, never both.

Never write the tallies or the deltas anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

import structlog
from fastapi import FastAPI
from sqlalchemy import BigInteger, cast, delete, func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.outcomes.models import ClaimTally, ClaimTallyDelta, ParticipantTally, ParticipantTallyDelta

log = structlog.get_logger(__name__)

COMPACT_EVERY = 1.0  # seconds

_COMPACTION_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended('outcomes.tally_compaction', 0))")

_FOLD_PARTICIPANTS = text(
    """
    WITH moved AS (
        DELETE FROM participant_tally_deltas RETURNING partnership_id, contract_id, enrolled, exited
    )
    INSERT INTO participant_tallies AS t (partnership_id, contract_id, enrolled, exited)
    SELECT partnership_id, contract_id, sum(enrolled), sum(exited) FROM moved
    GROUP BY partnership_id, contract_id
    ORDER BY partnership_id, contract_id
    ON CONFLICT (partnership_id, contract_id)
    DO UPDATE SET enrolled = t.enrolled + excluded.enrolled, exited = t.exited + excluded.exited
    RETURNING t.partnership_id, t.enrolled = 0 AND t.exited = 0
    """
)

_FOLD_CLAIMS = text(
    """
    WITH moved AS (
        DELETE FROM claim_tally_deltas
        RETURNING partnership_id, contract_id, contract_version_id, outcome_code, month, status, currency,
                  claims, payable
    )
    INSERT INTO claim_tallies AS t
        (partnership_id, contract_id, contract_version_id, outcome_code, month, status, currency, claims,
         payable)
    SELECT partnership_id, contract_id, contract_version_id, outcome_code, month, status, currency,
           sum(claims), sum(payable)
    FROM moved
    GROUP BY partnership_id, contract_id, contract_version_id, outcome_code, month, status, currency
    ORDER BY partnership_id, contract_id, contract_version_id, outcome_code, month, status, currency
    ON CONFLICT ON CONSTRAINT uq_claim_tallies_key
    DO UPDATE SET claims = t.claims + excluded.claims, payable = t.payable + excluded.payable
    RETURNING t.id, t.claims = 0 AND t.payable = 0
    """
)


_CLAIM_KEY = ("contract_id", "contract_version_id", "outcome_code", "month", "status", "currency")


@dataclass(frozen=True, slots=True)
class ContractParticipants:
    contract_id: UUID
    enrolled: int
    exited: int


@dataclass(frozen=True, slots=True)
class ClaimCount:
    """Claims that are not rejected, of one contract version, outcome, achievement month, status and
    currency (null until priced); `payable` is what verification priced them at."""

    contract_id: UUID
    contract_version_id: UUID
    outcome_code: str
    month: str
    status: str
    currency: str | None
    claims: int
    payable: Decimal


async def participant_counts(session: AsyncSession, partnership_id: UUID) -> list[ContractParticipants]:
    """Enrolled and exited participants per contract of the partnership (contracts with any)."""
    both = union_all(
        select(ParticipantTally.contract_id, ParticipantTally.enrolled, ParticipantTally.exited).where(
            ParticipantTally.partnership_id == partnership_id
        ),
        select(
            ParticipantTallyDelta.contract_id, ParticipantTallyDelta.enrolled, ParticipantTallyDelta.exited
        ).where(ParticipantTallyDelta.partnership_id == partnership_id),
    ).subquery()
    enrolled = cast(func.sum(both.c.enrolled), BigInteger)
    rows = await session.execute(
        select(both.c.contract_id, enrolled, cast(func.sum(both.c.exited), BigInteger))
        .group_by(both.c.contract_id)
        .having(enrolled != 0)
    )
    return [ContractParticipants(*row) for row in rows.tuples()]


async def claim_counts(session: AsyncSession, partnership_id: UUID) -> list[ClaimCount]:
    """The partnership's claim counts, ordered by outcome code and month as the database collates them."""
    both = union_all(
        *(
            select(*(getattr(model, name) for name in _CLAIM_KEY), model.claims, model.payable).where(
                model.partnership_id == partnership_id
            )
            for model in (ClaimTally, ClaimTallyDelta)
        )
    ).subquery()
    key = (
        both.c.contract_id,
        both.c.contract_version_id,
        both.c.outcome_code,
        both.c.month,
        both.c.status,
        both.c.currency,
    )
    claims = cast(func.sum(both.c.claims), BigInteger)
    rows = await session.execute(
        select(*key, claims, func.sum(both.c.payable))
        .group_by(*key)
        .having(claims != 0)
        .order_by(both.c.outcome_code, both.c.month, *key)
    )
    return [ClaimCount(*row) for row in rows.tuples()]


async def compact(session: AsyncSession) -> int:
    """Fold every committed delta into the tallies; the tally rows changed (0 if another replica holds the
    compaction lock). Tallies that reach zero are dropped: a read treats a missing tally as zero."""
    if not (await session.execute(_COMPACTION_LOCK)).scalar_one():
        return 0
    participants = (await session.execute(_FOLD_PARTICIPANTS)).tuples().all()
    if emptied := [partnership_id for partnership_id, zero in participants if zero]:
        await session.execute(
            delete(ParticipantTally).where(
                ParticipantTally.partnership_id.in_(emptied),
                ParticipantTally.enrolled == 0,
                ParticipantTally.exited == 0,
            )
        )
    claims = (await session.execute(_FOLD_CLAIMS)).tuples().all()
    if emptied_ids := [tally_id for tally_id, zero in claims if zero]:
        await session.execute(
            delete(ClaimTally).where(
                ClaimTally.id.in_(emptied_ids), ClaimTally.claims == 0, ClaimTally.payable == 0
            )
        )
    return len(participants) + len(claims)


class Compactor:
    """A background task per replica running `compact` every `interval` seconds, one transaction each."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, interval: float) -> None:
        self._sessionmaker = sessionmaker
        self._interval = interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tally-compactor")

    async def stop(self) -> None:
        """Let a compaction in flight commit, then stop; deltas left wait for the next replica's turn."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                async with self._sessionmaker() as session, session.begin():
                    await compact(session)
            except Exception:  # a database blip must not end compaction; deltas simply wait
                log.exception("tallies.compaction_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)


def compaction_lifespan(
    interval: float = COMPACT_EVERY,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The compactor's share of the outcome service's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        compactor = Compactor(app.state.sessionmaker, interval=interval)
        compactor.start()
        try:
            yield
        finally:
            await compactor.stop()

    return lifespan
