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
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

import structlog
from fastapi import FastAPI
from sqlalchemy import BigInteger, cast, delete, func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.outcomes.models import ClaimTally, ClaimTallyDelta, ParticipantTally, ParticipantTallyDelta
from services.outcomes.states import ClaimStatus

log = structlog.get_logger(__name__)

COMPACT_EVERY = 1.0  # seconds
ZERO = Decimal(0)

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
_PENDING = (ClaimStatus.CLAIMED.value, ClaimStatus.DISPUTED.value)


@dataclass(frozen=True, slots=True)
class PartnershipTotals:
    """What the aggregates count, as a recount of the partnership's participants and claims would give."""

    enrolled: int
    exited: int
    contract_ids: set[UUID]  # every contract with a participant
    # (outcome code, achievement month "YYYY-MM") -> (verified claims, their payable sum), in that key order
    verified: dict[tuple[str, str], tuple[int, Decimal]]
    earned: dict[tuple[UUID, str | None], Decimal]  # (contract, currency) -> payable of verified claims
    pending: dict[tuple[UUID, UUID, str], int]  # (contract, claimed version, outcome code) -> undecided
    # What the small-cell rule looks at beneath those sums (statements/cells.py):
    participants: dict[UUID, tuple[int, int]] = field(default_factory=dict)  # contract -> (enrolled, exited)
    # (contract, outcome code, month) -> verified claims
    verified_claims: dict[tuple[UUID, str, str], int] = field(default_factory=dict)


async def partnership_totals(session: AsyncSession, partnership_id: UUID) -> PartnershipTotals:
    """The partnership's totals from its tallies and its deltas not yet folded in. Two small reads, each
    exact in its own snapshot; as with any two statements, participants and claims may be a moment apart."""
    participants = await _participant_rows(session, partnership_id)
    totals = PartnershipTotals(
        enrolled=sum(enrolled for _, enrolled, _ in participants),
        exited=sum(exited for _, _, exited in participants),
        contract_ids={contract_id for contract_id, _, _ in participants},
        verified={},
        earned={},
        pending={},
        participants={contract_id: (enrolled, exited) for contract_id, enrolled, exited in participants},
        verified_claims={},
    )
    for contract_id, version_id, code, month, status, currency, claims, payable in await _claim_rows(
        session, partnership_id
    ):
        if status == ClaimStatus.VERIFIED.value:
            n, value = totals.verified.get((code, month), (0, ZERO))
            totals.verified[code, month] = (n + claims, value + payable)
            totals.earned[contract_id, currency] = totals.earned.get((contract_id, currency), ZERO) + payable
            cell = (contract_id, code, month)
            totals.verified_claims[cell] = totals.verified_claims.get(cell, 0) + claims
        elif status in _PENDING:
            totals.pending[contract_id, version_id, code] = (
                totals.pending.get((contract_id, version_id, code), 0) + claims
            )
        totals.contract_ids.add(contract_id)
    return totals


async def _participant_rows(session: AsyncSession, partnership_id: UUID) -> list[tuple[UUID, int, int]]:
    """(contract, enrolled, exited) for each contract of the partnership with participants."""
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
    return list(rows.all())


async def _claim_rows(
    session: AsyncSession, partnership_id: UUID
) -> list[tuple[UUID, UUID, str, str, str, str | None, int, Decimal]]:
    """Claims not rejected, counted per (contract, claimed version, outcome code, achievement month,
    status, currency), ordered by outcome code and month as the database collates them."""
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
    return list(rows.all())


async def compact(session: AsyncSession) -> int:
    """Fold every committed delta into the tallies; the tally rows changed (0 if another replica holds the
    compaction lock). Tallies that reach zero are dropped: a read treats a missing tally as zero."""
    if not (await session.execute(_COMPACTION_LOCK)).scalar_one():
        return 0
    participants = (await session.execute(_FOLD_PARTICIPANTS)).all()
    if emptied := [partnership_id for partnership_id, zero in participants if zero]:
        await session.execute(
            delete(ParticipantTally).where(
                ParticipantTally.partnership_id.in_(emptied),
                ParticipantTally.enrolled == 0,
                ParticipantTally.exited == 0,
            )
        )
    claims = (await session.execute(_FOLD_CLAIMS)).all()
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
        # Folds every partnership's deltas: the system context (docs/operations.md, Row-level security).
        compactor = Compactor(app.state.system_sessionmaker, interval=interval)
        compactor.start()
        try:
            yield
        finally:
            await compactor.stop()

    return lifespan
