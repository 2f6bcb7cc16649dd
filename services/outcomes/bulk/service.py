"""Bulk import for municipal IT and providers' systems: enrolments, eligibility confirmations, claims,
claim decisions and disputes as NDJSON or CSV lines, each with its own result (accepted / duplicate /
error with the reason).

The body is read as it arrives and worked through in batches of `BATCH` lines (`CLAIM_BATCH` when they
are all claims), one transaction each; a batch's results are reported only once it has committed, so a
result is never reported for work that is not durable. Each line goes through the same rules as the
single endpoints (one home for each rule), and a refused line changes nothing: consecutive enrolments,
eligibility confirmations, claims and claim decisions go through the rules' set forms (`enrol_many`,
`confirm_many`, `claims.check_many` with a set-based insert in `bulk/claims.py`, `decide_many`), which
check every line before writing any; a dispute runs in a SAVEPOINT of its own. What a batch does once
rather than per line:

- its external references are claimed in one INSERT ... ON CONFLICT DO NOTHING and their results
  recorded in one UPDATE (a claim line's reference is claimed with the id its claim will have, so it
  needs none); the references of lines that failed are released in one DELETE;
- its ledger events are chained under one lock of the partnership's head and written, with their
  webhook outbox rows and one NOTIFY, in a few statements at commit (`ledger.write_pending`);
- its decisions lock the cap counters they price against once, and are priced in order in memory;
- each (contract, date)'s version in force comes from the registry client's short-lived cache;
- PostgreSQL's JIT is off (every connection's, kit/db.py): it compiled one large set statement for seconds.

Idempotent by the line's `external_reference`, per organisation: a retried file — or the same file sent
twice at once — does each line's work exactly once and answers `duplicate` with the original result id.
A reference reused for different content is an error. The references table stores a keyed HMAC of the
line, never the line (an enrolment line holds a CPR number).

A batch that enrols holds the partnership's ledger lock from its first enrolment until it commits (the
lock serialises duplicate detection), so batches are kept small enough not to stall interactive writers
for long; a batch that loses a deadlock or uniqueness race is retried whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import orjson
import structlog
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal
from kit.cpr import contains_cpr
from kit.db import is_transient
from kit.problems import Forbidden, Problem
from services.outcomes import errors
from services.outcomes.bulk import claims as bulk_claims
from services.outcomes.bulk.lines import (
    ClaimLine,
    DisputeLine,
    EligibilityLine,
    EnrolmentLine,
    Fields,
    Line,
    VerificationLine,
    validate,
)
from services.outcomes.bulk.models import BulkImport, BulkReference
from services.outcomes.claims import service as claims
from services.outcomes.claims import verification
from services.outcomes.collaborators import Deps
from services.outcomes.ledger import service as ledger
from services.outcomes.participants import service as participants
from services.outcomes.schemas import ParticipantCreate

BATCH = 200
# A batch of claim lines alone may grow this far: it holds no ledger lock while it works (its events are
# chained at commit) and its participants' rows only for its own few statements, and every batch costs
# its own round trips, statement-level tally triggers and commit.
CLAIM_BATCH = 1000
MAX_LINES = 50_000
# Results sent while the body is still arriving are capped well below what the kernel buffers on a
# connection: a client that only reads once it has sent everything (most HTTP clients) would otherwise
# stop reading the body's results while the server stops reading its body — a deadlock. The rest wait
# until the body has been read, then stream as batches commit.
EAGER_RESULT_BYTES = 32 * 1024
ATTEMPTS = 3
ANALYZE_AFTER = 1_000  # accepted lines in one import
# ANALYZE needs the tables' owner, and the service connects as a runtime role that owns nothing: the owner's
# function runs it (migration 2026-12-03-1130).
_ANALYZE = text("SELECT analyse_after_bulk_import()")
SET_KINDS = (EnrolmentLine, EligibilityLine, ClaimLine, VerificationLine)
# One savepoint name for every line, not SQLAlchemy's numbered ones: each new statement text is prepared
# anew by asyncpg and churns its statement cache, which cost more than the lines' own queries.
_SAVEPOINT = text("SAVEPOINT bulk_line")
_RELEASE_SAVEPOINT = text("RELEASE SAVEPOINT bulk_line")
_ROLLBACK_TO_SAVEPOINT = text("ROLLBACK TO SAVEPOINT bulk_line")

log = structlog.get_logger(__name__)

# A batch's references in one statement each way (unnest keeps the statement the same for any batch, so it
# is prepared once); claimed in reference order, so two imports never wait on each other in a cycle.
_CLAIM_REFERENCES = text(
    """
    INSERT INTO bulk_references (organisation_id, external_reference, kind, fingerprint, result_id)
    SELECT :owner, r.reference, r.kind, r.fingerprint, r.result_id
    FROM unnest(
        CAST(:references AS text[]), CAST(:kinds AS text[]), CAST(:fingerprints AS text[]),
        CAST(:result_ids AS uuid[])
    ) AS r(reference, kind, fingerprint, result_id)
    ORDER BY r.reference
    ON CONFLICT DO NOTHING
    RETURNING external_reference
    """
)
_RECORD_RESULTS = text(
    """
    UPDATE bulk_references AS b SET result_id = r.id
    FROM unnest(CAST(:references AS text[]), CAST(:ids AS uuid[])) AS r(reference, id)
    WHERE b.organisation_id = :owner AND b.external_reference = r.reference
      -- the same condition as an index condition, so a table not yet analysed is not scanned whole
      AND b.external_reference = ANY(CAST(:references AS text[]))
    """
)

_RECORD_LINES = text(
    """
    INSERT INTO bulk_import_lines (import_id, line, result)
    SELECT :import_id, r.line, r.result
    FROM unnest(CAST(:lines AS integer[]), CAST(:results AS text[])) AS r(line, result)
    """
)


class StopReading(Exception):
    """The body may not be read further (it is too long); the lines read so far are still applied."""


def _fingerprint(secret: bytes, fields: Fields) -> str:
    # The stored fingerprints were made with json.dumps' default form: a different form would turn every
    # resent file's lines into "already used for a different line".
    return hmac.new(
        secret, json.dumps(fields, sort_keys=True, default=str).encode(), hashlib.sha256
    ).hexdigest()


def _result(number: int, reference: str | None, result: str, **extra: Any) -> bytes:
    line = {"line": number, "external_reference": reference, "result": result, **extra}
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


@dataclass(slots=True)
class _Item:
    """One input line: either already answered (unreadable or invalid) or a typed line to apply."""

    number: int
    reference: str | None
    line: Line | None = None
    fingerprint: str = ""
    answer: bytes | None = None
    # A claim line's claim id, chosen before its work: its reference is claimed with it as the result.
    made_id: UUID | None = None


def _item(number: int, fields: Fields | str, secret: bytes) -> _Item:
    if isinstance(fields, str):
        return _Item(number, None, answer=_result(number, None, "error", reason=fields))
    reference = fields.get("external_reference")
    # A result echoes the line's reference, and is stored: never one holding a CPR number (the line is
    # refused for it, naming the field).
    reference = reference if isinstance(reference, str) and not contains_cpr(reference) else None
    line = validate(fields)
    if isinstance(line, str):
        return _Item(number, reference, answer=_result(number, reference, "error", reason=line))
    made_id = uuid4() if isinstance(line, ClaimLine) else None
    return _Item(number, reference, line, _fingerprint(secret, fields), made_id=made_id)


async def _apply(
    session: AsyncSession, principal: Principal, partnership_id: UUID, line: Line, deps: Deps
) -> UUID:
    """A dispute through its single endpoint's rules; the id of the claim."""
    assert isinstance(line, DisputeLine)  # the others go in together (`Import._many`)
    existing = await claims.get_claim(session, principal, line.claim_id)
    if existing.partnership_id != partnership_id:
        raise errors.ClaimNotFound()
    disputed = await verification.dispute_claim(
        session, principal, line.claim_id, reason=line.reason, expected_version=None, deps=deps
    )
    return disputed.id


@dataclass
class Import:
    """One request's import: who sends it, into which partnership, and what the rules need."""

    sessionmaker: async_sessionmaker[AsyncSession]
    principal: Principal
    partnership_id: UUID
    deps: Deps
    secret: bytes
    accepted: int = 0
    import_id: UUID | None = None

    async def start(self) -> UUID:
        """Record the import as running, in its own transaction, so that it can be polled at once."""
        row = BulkImport(
            organisation_id=self.principal.organisation_id,
            partnership_id=self.partnership_id,
            status="running",
        )
        async with self.sessionmaker() as session, session.begin():
            session.add(row)
            await session.flush()
        self.import_id = row.id
        return row.id

    async def refresh_statistics(self) -> None:
        """After a large import, bring the planner's statistics up to date, as PostgreSQL advises after
        bulk loading: until autovacuum comes round, a table that grew by thousands of rows is planned as
        if it were nearly empty, and each batch's lookups become scans of the whole partnership (seen:
        10 000-line imports slowing from 2 900 to 830 lines/s over four files). Best effort: a role that
        does not own the tables is skipped by PostgreSQL with a warning, and autovacuum still applies."""
        if self.accepted < ANALYZE_AFTER:
            return
        try:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(text("SET LOCAL lock_timeout = '2s'"))
                await session.execute(_ANALYZE)
        except DBAPIError as exc:
            log.info("bulk_analyze_skipped", error=type(exc.orig).__name__)

    async def run(self, records: AsyncIterator[tuple[int, Fields | str]]) -> AsyncIterator[bytes]:
        """Results, in input order, batch by batch as each commits (see EAGER_RESULT_BYTES)."""
        held: list[bytes] = []
        sent = 0
        batch: list[_Item] = []
        references: set[str] = set()
        total = 0
        claims_only = True  # whether every line of the batch to apply is a claim (see CLAIM_BATCH)
        async for number, fields in _bounded(records):
            total += 1
            item = _item(number, fields, self.secret)
            claim = item.line is None or isinstance(item.line, ClaimLine)
            limit = CLAIM_BATCH if claims_only and claim else BATCH
            # A reference twice in one batch would meet itself in the claim; the second waits a batch.
            if len(batch) >= limit or (item.line is not None and item.reference in references):
                done = await self._commit(batch)
                batch, references, claims_only = [], set(), True
                if sent + len(done) <= EAGER_RESULT_BYTES and not held:
                    sent += len(done)
                    yield done
                else:
                    held.append(done)
            batch.append(item)
            claims_only = claims_only and claim
            if item.line is not None and item.reference is not None:
                references.add(item.reference)
        tail = await self._commit(batch) if batch else b""
        await self._finish(total)
        for done in held:
            yield done
        if tail:
            yield tail

    async def _finish(self, lines_total: int) -> None:
        if self.import_id is None:
            return
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(BulkImport)
                .where(BulkImport.id == self.import_id)
                .values(status="done", lines_total=lines_total, finished_at=func.now())
            )

    async def _commit(self, batch: list[_Item]) -> bytes:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.sessionmaker() as session, session.begin():
                    answers, accepted = await self._work(session, batch)
                    await self._record(session, batch, answers)
            except DBAPIError as exc:
                # A uniqueness race with a concurrent single write is settled by trying again: the rules
                # then see the committed row and answer the line with the right problem.
                if attempt == ATTEMPTS or not (is_transient(exc) or isinstance(exc, IntegrityError)):
                    raise
                log.warning("bulk_batch_retried", attempt=attempt, error=type(exc.orig).__name__)
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            self.accepted += accepted
            return b"".join(answers)
        raise AssertionError("unreachable")

    async def _record(self, session: AsyncSession, batch: list[_Item], answers: list[bytes]) -> None:
        """The batch's results and progress, in the batch's transaction: what is reported is what holds."""
        if self.import_id is None:
            return
        await session.execute(
            _RECORD_LINES,
            {
                "import_id": self.import_id,
                "lines": [item.number for item in batch],
                "results": [answer.decode() for answer in answers],
            },
        )
        await session.execute(
            update(BulkImport)
            .where(BulkImport.id == self.import_id)
            .values(lines_done=BulkImport.lines_done + len(batch))
        )

    async def _work(self, session: AsyncSession, batch: list[_Item]) -> tuple[list[bytes], int]:
        """The batch's answers and how many of its lines were accepted."""
        answers = [item.answer or b"" for item in batch]
        todo = [(i, item, item.line) for i, item in enumerate(batch) if item.line is not None]
        if not todo:
            return answers, 0
        owner = self.principal.organisation_id
        claimed, earlier = await self._claim_references(session, [(item, line) for _, item, line in todo])
        done: list[tuple[str, UUID]] = []  # accepted lines whose result is not yet on their reference
        failed: list[str] = []
        accepted: list[int] = []

        def settle(i: int, outcome: UUID | Problem) -> None:
            item, reference = batch[i], batch[i].reference or ""
            if isinstance(outcome, Problem):
                failed.append(reference)
                reason = outcome.detail or outcome.title
                answers[i] = _result(item.number, reference, "error", code=outcome.code, reason=reason)
            else:
                if outcome != item.made_id:
                    done.append((reference, outcome))
                accepted.append(i)
                answers[i] = _result(item.number, reference, "accepted", id=str(outcome))

        group: list[tuple[int, Line]] = []  # consecutive lines of one kind that go in together
        deciding: set[UUID] = set()  # the claims the group's decisions decide
        for i, item, line in todo:
            # A decision on a claim the group already decides goes in the next group, after the first.
            again = isinstance(line, VerificationLine) and line.claim_id in deciding
            if group and (line.kind != group[0][1].kind or again):
                for j, outcome in await self._many(session, group, batch):
                    settle(j, outcome)
                group, deciding = [], set()
            if line.external_reference not in claimed:
                answers[i] = _repeat(item, earlier[line.external_reference])
            elif isinstance(line, SET_KINDS):
                group.append((i, line))
                if isinstance(line, VerificationLine):
                    deciding.add(line.claim_id)
            else:
                settle(i, await self._one(session, line))
        for j, outcome in await self._many(session, group, batch):
            settle(j, outcome)
        if failed:
            await session.execute(
                delete(BulkReference).where(
                    BulkReference.organisation_id == owner, BulkReference.external_reference.in_(failed)
                )
            )
        if done:
            references, ids = (list(column) for column in zip(*done, strict=True))
            await session.execute(_RECORD_RESULTS, {"owner": owner, "references": references, "ids": ids})
        return answers, len(accepted)

    async def _claim_references(
        self, session: AsyncSession, lines: list[tuple[_Item, Line]]
    ) -> tuple[set[str], dict[str, Any]]:
        """Claim the lines' external references; those already taken, with what they were taken for."""
        owner = self.principal.organisation_id
        rows = sorted(
            ((line.external_reference, line.kind, item.fingerprint, item.made_id) for item, line in lines),
            key=lambda row: row[0],
        )
        references, kinds, fingerprints, made = (list(column) for column in zip(*rows, strict=True))
        claimed = set(
            await session.scalars(
                _CLAIM_REFERENCES,
                {
                    "owner": owner,
                    "references": references,
                    "kinds": kinds,
                    "fingerprints": fingerprints,
                    "result_ids": made,
                },
            )
        )
        taken = [line.external_reference for _, line in lines if line.external_reference not in claimed]
        if not taken:
            return claimed, {}
        earlier = await session.execute(
            select(
                BulkReference.external_reference, BulkReference.fingerprint, BulkReference.result_id
            ).where(BulkReference.organisation_id == owner, BulkReference.external_reference.in_(taken))
        )
        return claimed, {row.external_reference: row for row in earlier}

    async def _many(
        self, session: AsyncSession, group: list[tuple[int, Line]], batch: list[_Item]
    ) -> list[tuple[int, UUID | Problem]]:
        """Enrolments, eligibility confirmations, claims or claim decisions together, through the rules'
        `*_many` forms (claims through their set-based bulk form, `bulk.claims`)."""
        lines = [line for _, line in group]
        made: list[Any]
        if not lines:
            return []
        if isinstance(lines[0], VerificationLine):
            if not self.principal.has_scope("outcomes:verify"):
                refused = Forbidden("deciding claims needs the `outcomes:verify` scope")
                return [(i, refused) for i, _ in group]
            decisions = [
                verification.Decided(line.claim_id, line.decision, line.reason)
                for line in lines
                if isinstance(line, VerificationLine)
            ]
            made = await verification.decide_many(
                session, self.principal, self.partnership_id, decisions, self.deps
            )
        elif isinstance(lines[0], EnrolmentLine):
            bodies = [
                ParticipantCreate(
                    partnership_id=self.partnership_id,
                    contract_id=line.contract_id,
                    cpr=line.cpr,
                    municipality_code=line.municipality_code,
                    enrolment_date=line.enrolment_date,
                    cohort=line.cohort,
                    municipal_reference=line.municipal_reference,
                    segment=line.segment,
                )
                for line in lines
                if isinstance(line, EnrolmentLine)
            ]
            made = await participants.enrol_many(session, self.principal, bodies, self.deps)
        elif isinstance(lines[0], EligibilityLine):
            ids = [line.participant_id for line in lines if isinstance(line, EligibilityLine)]
            made = await participants.confirm_many(session, self.principal, self.partnership_id, ids)
        else:
            claim_lines = [line for line in lines if isinstance(line, ClaimLine)]
            ids = [batch[i].made_id or uuid4() for i, _ in group]
            submitted = await bulk_claims.submit_lines(
                session, self.principal, self.partnership_id, claim_lines, ids, self.deps
            )
            return list(zip((i for i, _ in group), submitted, strict=True))
        return [
            (i, outcome if isinstance(outcome, Problem) else outcome.id)
            for (i, _), outcome in zip(group, made, strict=True)
        ]

    async def _one(self, session: AsyncSession, line: Line) -> UUID | Problem:
        """One line through its single endpoint's rules, in a savepoint so that a refusal undoes it alone."""
        mark = ledger.mark(session)
        await session.execute(_SAVEPOINT)
        try:
            result_id = await _apply(session, self.principal, self.partnership_id, line, self.deps)
            await session.flush()
        except Problem as problem:
            await session.execute(_ROLLBACK_TO_SAVEPOINT)
            session.expunge_all()  # what the line loaded or changed may no longer be so
            ledger.rewind(session, mark)
            return problem
        await session.execute(_RELEASE_SAVEPOINT)
        return result_id


def _repeat(item: _Item, first: Any) -> bytes:
    """A reference seen before: the same line again is a duplicate, other content an error."""
    if first.fingerprint == item.fingerprint:
        return _result(item.number, item.reference, "duplicate", id=str(first.result_id))
    reason = "external_reference: already used for a different line"
    return _result(item.number, item.reference, "error", reason=reason)


async def _bounded(
    records: AsyncIterator[tuple[int, Fields | str]],
) -> AsyncIterator[tuple[int, Fields | str]]:
    """The records up to MAX_LINES; past it, or when the body is too long, a last error record."""
    number = lines = 0
    try:
        async for number, fields in records:
            lines += 1
            if lines > MAX_LINES:
                yield number, f"at most {MAX_LINES} lines per request; this line and the rest were not read"
                return
            yield number, fields
    except StopReading as stop:
        yield number + 1, f"{stop}; this line and the rest were not read"
