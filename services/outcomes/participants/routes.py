"""HTTP routes for participants: parse, call the rules, shape the answer.

Writes take `Idempotency-Key`; state transitions take `If-Match` with the ETag (`"<version>"`) a read
returned. What a row shows depends on who asks: the municipal reference only to the municipality of
residence (`access.is_municipality_of_residence`); the pseudonym and the exit reason to every reader but a
payer without residents (`access.reads_identifying_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.db import DbSession
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, IdList, Limit, Page, encode_cursor, parse_ids
from kit.problems import Problem, problem_responses
from kit.reads import Row
from services.outcomes import access
from services.outcomes.collaborators import Deps
from services.outcomes.dependencies import (
    ExpectedVersion,
    IdempotencyKey,
    KeyedIdempotencyKey,
    OutcomeReader,
    OutcomeWriter,
    RegistryDeps,
    RuleDeps,
    cursor_after,
    etag,
)
from services.outcomes.groups import Kind, by_part, groups_of
from services.outcomes.models import Participant
from services.outcomes.participants import service
from services.outcomes.pseudonyms import PartnershipKeys
from services.outcomes.schemas import (
    ParticipantCreate,
    ParticipantExit,
    ParticipantRead,
)

router = APIRouter(prefix="/v1", tags=["outcomes"])


# --- participants ------------------------------------------------------------------------------------------


def participant_read(
    principal: Principal, participant: Participant, keys: PartnershipKeys | None
) -> ParticipantRead:
    """The participant as `principal` may see it. Write responses pass no keys: they are stored with the
    Idempotency-Key, and the municipal reference must stay encrypted at rest, so only reads decrypt it."""
    reference = None if keys is None else service.municipal_reference(principal, participant, keys)
    hidden = (
        {}
        if access.reads_identifying_fields(principal, participant)
        else {"pseudonym": None, "exit_reason": None}
    )
    return ParticipantRead.model_validate(
        Row(participant, municipal_reference=reference, **hidden), from_attributes=True
    )


@router.post(
    "/participants",
    status_code=201,
    response_model=ParticipantRead,
    summary="Enrol a participant by CPR number (kept only as a keyed pseudonym)",
    responses={**problem_responses(400, 401, 403, 409, 422, 503), **sends(201, "ETag", "Location")},
)
async def enrol_participant(
    request: Request,
    body: ParticipantCreate,
    session: DbSession,
    principal: OutcomeWriter,
    idem: KeyedIdempotencyKey,
    deps: RegistryDeps,
) -> Response:
    groups = groups_of(request, ENROLMENTS)
    if groups is not None:  # written with the enrolments arriving alongside (groups.py)
        return await groups.submit(principal, body, idem, deps)
    if (replayed := await idem.replay()) is not None:
        return replayed
    participant = await service.enrol_participant(session, principal, body, deps)
    read, headers = _enrolled(principal, participant)
    return await idem.respond(201, read, headers)


def _enrolled(principal: Principal, participant: Participant) -> tuple[ParticipantRead, dict[str, str]]:
    """A new participant's answer; every column is known (eager_defaults)."""
    headers = {**etag(participant.version), "Location": f"/v1/participants/{participant.id}"}
    return participant_read(principal, participant, None), headers


async def _render_enrolled(
    session: AsyncSession, principal: Principal, made: list[Participant]
) -> list[tuple[Any, dict[str, str]]]:
    return [_enrolled(principal, participant) for participant in made]


# `enrol_many` takes one partnership's enrolments (it serialises duplicate detection per partnership).
ENROLMENTS: Kind[ParticipantCreate, Participant] = Kind(
    "enrolment", by_part(lambda body: body.partnership_id, service.enrol_many), _render_enrolled, 201
)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """One request's eligibility confirmation, with the version it read (`If-Match`)."""

    participant_id: UUID
    expected_version: int | None


async def _confirm_group(
    session: AsyncSession, principal: Principal, confirmations: list[Confirmation], deps: Deps
) -> list[Participant | Problem]:
    return await service.confirm_many(
        session,
        principal,
        None,
        [c.participant_id for c in confirmations],
        expected_versions=[c.expected_version for c in confirmations],
    )


async def _render_confirmed(
    session: AsyncSession, principal: Principal, confirmed: list[Participant]
) -> list[tuple[Any, dict[str, str]]]:
    return [(participant_read(principal, p, None), etag(p.version)) for p in confirmed]


CONFIRMATIONS: Kind[Confirmation, Participant] = Kind("confirmation", _confirm_group, _render_confirmed, 200)


@router.get(
    "/participants",
    response_model=Page[ParticipantRead],
    summary="Participants visible to you (batch: `ids=`)",
    responses=problem_responses(400, 401, 403),
)
async def list_participants(
    session: DbSession,
    principal: OutcomeReader,
    deps: RuleDeps,
    partnership_id: UUID | None = None,
    ids: IdList = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ParticipantRead]:
    rows = await service.list_participants(
        session,
        principal,
        partnership_id=partnership_id,
        ids=parse_ids(ids),
        after=cursor_after(cursor),
        limit=limit,
    )
    return Page(
        items=[participant_read(principal, p, deps.keys) for p in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get(
    "/participants/{participant_id}",
    response_model=ParticipantRead,
    responses={**problem_responses(401, 403, 404), **sends(200, "ETag")},
)
async def get_participant(
    participant_id: UUID, session: DbSession, principal: OutcomeReader, deps: RuleDeps, response: Response
) -> ParticipantRead:
    participant = await service.get_participant(session, principal, participant_id)
    response.headers.update(etag(participant.version))
    return participant_read(principal, participant, deps.keys)


@router.post(
    "/participants/{participant_id}/eligibility-confirmation",
    response_model=ParticipantRead,
    summary="The outcome payer confirms the participant's eligibility",
    responses={**problem_responses(400, 401, 403, 404, 412), **sends(200, "ETag")},
)
async def confirm_eligibility(
    request: Request,
    participant_id: UUID,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    deps: RuleDeps,
    expected: ExpectedVersion,
) -> Response:
    groups = groups_of(request, CONFIRMATIONS)
    if groups is not None:  # written with the confirmations arriving alongside (groups.py)
        return await groups.submit(principal, Confirmation(participant_id, expected), idem, deps)
    if (replayed := await idem.replay()) is not None:
        return replayed
    participant = await service.confirm_eligibility(
        session, principal, participant_id, expected_version=expected
    )
    return await idem.respond(200, participant_read(principal, participant, None), etag(participant.version))


@router.post(
    "/participants/{participant_id}/exit",
    response_model=ParticipantRead,
    summary="Record the participant's exit from the programme",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422), **sends(200, "ETag")},
)
async def exit_participant(
    participant_id: UUID,
    body: ParticipantExit,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    deps: RuleDeps,
    expected: ExpectedVersion,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    participant = await service.exit_participant(
        session, principal, participant_id, body, expected_version=expected
    )
    return await idem.respond(200, participant_read(principal, participant, None), etag(participant.version))
