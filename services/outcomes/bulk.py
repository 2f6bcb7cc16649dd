"""Bulk import for municipal IT: enrolments, eligibility confirmations and claim decisions as NDJSON or
CSV lines, each with its own result (accepted / duplicate / error with the reason).

Idempotent by the line's `external_reference`, per organisation: the reference is claimed (INSERT ... ON
CONFLICT DO NOTHING) in the same savepoint as the work it stands for, so a retried file — or the same
file sent twice at once — does each line's work exactly once and answers `duplicate` with the original
result id. A reference reused for different content is an error. The references table stores a keyed
HMAC of the line, never the line (an enrolment line holds a CPR number).

Efficiency: lines run through the same rules as the single endpoints, each in a SAVEPOINT (a bad line
rolls back alone), and commit in batches of `BATCH` lines rather than one transaction per line. A batch
holds the partnership's ledger lock until it commits, so batches are kept small enough not to stall
interactive writers for long.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal
from kit.problems import Problem
from services.outcomes import errors, service, verification
from services.outcomes.bulk_models import BulkReference
from services.outcomes.clients.contracts import ContractsClient, ContractVersion
from services.outcomes.schemas import ParticipantCreate

BATCH = 200
MAX_LINES = 50_000
CSV_COLUMNS = (
    "kind",
    "external_reference",
    "contract_id",
    "cpr",
    "municipality_code",
    "enrolment_date",
    "cohort",
    "municipal_reference",
    "participant_id",
    "claim_id",
    "decision",
    "reason",
)


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_reference: str = Field(min_length=1, max_length=200)


class EnrolmentLine(_Line):
    kind: Literal["enrolment"]
    contract_id: UUID
    cpr: SecretStr
    municipality_code: str = Field(pattern=r"^[0-9]{3}$")
    enrolment_date: date
    cohort: str | None = Field(None, max_length=100)
    municipal_reference: str | None = Field(None, max_length=200)


class EligibilityLine(_Line):
    kind: Literal["eligibility"]
    participant_id: UUID


class VerificationLine(_Line):
    kind: Literal["verification"]
    claim_id: UUID
    decision: Literal["verified", "rejected"]
    reason: str | None = Field(None, min_length=1, max_length=2000)


LINE_TYPES: dict[str, type[_Line]] = {
    "enrolment": EnrolmentLine,
    "eligibility": EligibilityLine,
    "verification": VerificationLine,
}


def parse_lines(body: bytes, media_type: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, fields) per non-empty line, or (line number, reason) when the line is unreadable."""
    text = body.decode("utf-8-sig", errors="replace")
    if media_type == "text/csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            number = reader.line_num
            if None in row:
                yield number, "more cells than the header has columns"
                continue
            yield number, {k: v for k, v in row.items() if k and v not in (None, "")}
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except ValueError:
            yield number, "not a JSON object"
            continue
        yield number, fields if isinstance(fields, dict) else "not a JSON object"


def _fingerprint(secret: bytes, fields: dict[str, Any]) -> str:
    return hmac.new(
        secret, json.dumps(fields, sort_keys=True, default=str).encode(), hashlib.sha256
    ).hexdigest()


def _result(number: int, reference: str | None, result: str, **extra: Any) -> bytes:
    return (
        json.dumps({"line": number, "external_reference": reference, "result": result, **extra}).encode()
        + b"\n"
    )


async def _apply(
    session: AsyncSession, principal: Principal, partnership_id: UUID, line: _Line, deps: service.Deps
) -> UUID:
    if isinstance(line, EnrolmentLine):
        body = ParticipantCreate(
            partnership_id=partnership_id,
            contract_id=line.contract_id,
            cpr=line.cpr,
            municipality_code=line.municipality_code,
            enrolment_date=line.enrolment_date,
            cohort=line.cohort,
            municipal_reference=line.municipal_reference,
        )
        return (await service.enrol_participant(session, principal, body, deps)).id
    if isinstance(line, EligibilityLine):
        participant = await service.get_participant(session, principal, line.participant_id)
        if participant.partnership_id != partnership_id:
            raise errors.ParticipantNotFound()
        return (
            await service.confirm_eligibility(session, principal, line.participant_id, expected_version=None)
        ).id
    assert isinstance(line, VerificationLine)
    claim = await verification.decide_claim(
        session,
        principal,
        line.claim_id,
        decision=line.decision,
        reason=line.reason,
        resolution=False,
        expected_version=None,
        deps=deps,
    )
    if claim.partnership_id != partnership_id:
        raise errors.ClaimNotFound()
    return claim.id


async def _line(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID,
    number: int,
    fields: dict[str, Any] | str,
    deps: service.Deps,
    secret: bytes,
) -> bytes:
    if isinstance(fields, str):
        return _result(number, None, "error", reason=fields)
    reference = fields.get("external_reference")
    reference = reference if isinstance(reference, str) else None
    kind = LINE_TYPES.get(str(fields.get("kind")))
    if kind is None:
        return _result(
            number, reference, "error", reason="kind: must be enrolment, eligibility or verification"
        )
    try:
        line = kind.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return _result(number, reference, "error", reason=f"{where}: {first['msg']}")
    fingerprint = _fingerprint(secret, fields)
    owner = principal.organisation_id
    savepoint = await session.begin_nested()
    claimed = await session.execute(
        insert(BulkReference)
        .values(
            organisation_id=owner,
            external_reference=line.external_reference,
            kind=fields["kind"],
            fingerprint=fingerprint,
        )
        .on_conflict_do_nothing()
        .returning(BulkReference.external_reference)
    )
    if claimed.first() is None:
        await savepoint.rollback()
        earlier = (
            await session.execute(
                select(BulkReference.fingerprint, BulkReference.result_id).where(
                    BulkReference.organisation_id == owner,
                    BulkReference.external_reference == line.external_reference,
                )
            )
        ).one()
        if earlier.fingerprint != fingerprint:
            return _result(
                number, reference, "error", reason="external_reference: already used for a different line"
            )
        return _result(number, reference, "duplicate", id=str(earlier.result_id))
    try:
        result_id = await _apply(session, principal, partnership_id, line, deps)
    except Problem as problem:
        await savepoint.rollback()
        return _result(number, reference, "error", code=problem.code, reason=problem.detail or problem.title)
    await session.execute(
        update(BulkReference)
        .where(
            BulkReference.organisation_id == owner,
            BulkReference.external_reference == line.external_reference,
        )
        .values(result_id=result_id)
    )
    await savepoint.commit()
    return _result(number, reference, "accepted", id=str(result_id))


class ImportContracts(ContractsClient):
    """The registry as one import sees it: each (contract, date)'s version in force is fetched once per
    request rather than once per line, which for a file of enrolments on a few dates removes nearly every
    registry round trip. A version activated while the import runs applies from the next request."""

    def __init__(self, inner: ContractsClient) -> None:  # no super().__init__: it delegates, owns no client
        self._inner = inner
        self._in_force: dict[tuple[UUID, date], ContractVersion] = {}

    async def version_in_force(self, contract_id: UUID, on: date, *, token: str) -> ContractVersion:
        key = (contract_id, on)
        if key not in self._in_force:
            self._in_force[key] = await self._inner.version_in_force(contract_id, on, token=token)
        return self._in_force[key]

    async def version(self, version_id: UUID, *, token: str) -> ContractVersion:
        return await self._inner.version(version_id, token=token)

    async def aclose(self) -> None:
        """The shared client outlives the import."""


async def run_import(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    partnership_id: UUID,
    lines: list[tuple[int, dict[str, Any] | str]],
    deps: service.Deps,
    secret: bytes,
) -> AsyncIterator[bytes]:
    """Process the lines in batches, yielding each batch's results once it has committed (a result is
    only ever reported for work that is durable)."""
    deps = replace(deps, contracts=ImportContracts(deps.contracts))
    for start in range(0, len(lines), BATCH):
        results = []
        async with sessionmaker() as session, session.begin():
            for number, fields in lines[start : start + BATCH]:
                results.append(await _line(session, principal, partnership_id, number, fields, deps, secret))
        yield b"".join(results)
