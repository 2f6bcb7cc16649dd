"""Partnerships and memberships over HTTP."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from kit.db import DbSession
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, IdList, Limit, Page, parse_ids
from services.identity.dependencies import ExpectedVersion, IdempotencyKey, PartnerReader, PartnerWriter
from services.identity.directory.routes import ONE, READ, UPDATE, WRITE, Cursor, page_of, with_etag
from services.identity.partnerships import grants, schemas, service

router = APIRouter(prefix="/v1")


@router.get("/partnerships", responses=READ, tags=["partnerships"])
async def list_partnerships(
    session: DbSession,
    principal: PartnerReader,
    ids: IdList = None,
    organisation_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(pattern="^(active|closed)$")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.PartnershipRead]:
    """Partnerships the caller's organisation belongs to (all, for operators)."""
    page = await service.list_partnerships(
        session,
        principal,
        ids=parse_ids(ids),
        organisation_id=organisation_id,
        status=status,
        cursor=cursor,
        limit=limit,
    )
    return page_of(schemas.PartnershipRead, page)


@router.post(
    "/partnerships",
    status_code=201,
    responses={**WRITE, **sends(201, "ETag")},
    tags=["partnerships"],
    response_model=schemas.PartnershipRead,
)
async def create_partnership(
    session: DbSession, principal: PartnerWriter, idem: IdempotencyKey, body: schemas.PartnershipCreate
) -> JSONResponse:
    """Start a partnership (operators only); add its members next."""
    if (replay := await idem.replay()) is not None:
        return replay
    row = await service.create_partnership(session, principal, body)
    return await idem.respond(201, schemas.PartnershipRead.model_validate(row), {"ETag": f'"{row.version}"'})


@router.get("/partnerships/{partnership_id}", responses={**ONE, **sends(200, "ETag")}, tags=["partnerships"])
async def get_partnership(
    session: DbSession, principal: PartnerReader, partnership_id: uuid.UUID, response: Response
) -> schemas.PartnershipRead:
    row = await service.get_partnership(session, principal, partnership_id)
    return with_etag(schemas.PartnershipRead, row, response)


@router.patch(
    "/partnerships/{partnership_id}", responses={**UPDATE, **sends(200, "ETag")}, tags=["partnerships"]
)
async def update_partnership(
    session: DbSession,
    principal: PartnerWriter,
    partnership_id: uuid.UUID,
    body: schemas.PartnershipUpdate,
    expected: ExpectedVersion,
    response: Response,
) -> schemas.PartnershipRead:
    """Rename, describe or close a partnership (operators only)."""
    row = await service.update_partnership(
        session, principal, partnership_id, body, expected_version=expected
    )
    return with_etag(schemas.PartnershipRead, row, response)


@router.get("/partnerships/{partnership_id}/memberships", responses=READ, tags=["partnerships"])
async def list_memberships(
    session: DbSession,
    principal: PartnerReader,
    partnership_id: uuid.UUID,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.MembershipRead]:
    page = await service.list_memberships(
        session, principal, partnership_id=partnership_id, cursor=cursor, limit=limit
    )
    return page_of(schemas.MembershipRead, page)


@router.get("/memberships", responses=READ, tags=["partnerships"])
async def list_all_memberships(
    session: DbSession,
    principal: PartnerReader,
    partnership_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.MembershipRead]:
    page = await service.list_memberships(
        session,
        principal,
        partnership_id=partnership_id,
        organisation_id=organisation_id,
        cursor=cursor,
        limit=limit,
    )
    return page_of(schemas.MembershipRead, page)


@router.post(
    "/partnerships/{partnership_id}/memberships",
    status_code=201,
    responses=WRITE,
    tags=["partnerships"],
    response_model=schemas.MembershipRead,
)
async def create_membership(
    session: DbSession,
    principal: PartnerWriter,
    idem: IdempotencyKey,
    partnership_id: uuid.UUID,
    body: schemas.MembershipCreate,
) -> JSONResponse:
    """Give another organisation a role: the operator any role; an outcome payer `investor`, `adviser` or
    `observer` (a role reaching person-level data goes through a membership grant). Never your own."""
    if (replay := await idem.replay()) is not None:
        return replay
    row = await service.create_membership(session, principal, partnership_id, body)
    return await idem.respond(201, schemas.MembershipRead.model_validate(row))


@router.delete(
    "/partnerships/{partnership_id}/memberships/{membership_id}",
    status_code=204,
    responses=ONE,
    tags=["partnerships"],
)
async def delete_membership(
    session: DbSession, principal: PartnerWriter, partnership_id: uuid.UUID, membership_id: uuid.UUID
) -> Response:
    """End a membership: the operator any; an organisation its own (leaving), except as outcome payer."""
    await service.delete_membership(session, principal, partnership_id, membership_id)
    return Response(status_code=204)


# --- membership grants -------------------------------------------------------------------------------------

GRANTS = "/partnerships/{partnership_id}/membership-grants"


@router.get(GRANTS, responses=READ, tags=["partnerships"])
async def list_membership_grants(
    session: DbSession,
    principal: PartnerReader,
    partnership_id: uuid.UUID,
    status: Annotated[str | None, Query(pattern="^(pending|granted|declined)$")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.MembershipGrantRead]:
    """The partnership's membership grants, oldest first; filter by `status`."""
    page = await grants.list_membership_grants(
        session, principal, partnership_id, status=status, cursor=cursor, limit=limit
    )
    return page_of(schemas.MembershipGrantRead, page)


@router.post(
    GRANTS,
    status_code=201,
    responses=WRITE,
    tags=["partnerships"],
    response_model=schemas.MembershipGrantRead,
)
async def propose_membership_grant(
    session: DbSession,
    principal: PartnerWriter,
    idem: IdempotencyKey,
    partnership_id: uuid.UUID,
    body: schemas.MembershipCreate,
) -> JSONResponse:
    """Propose a role for another organisation (an outcome payer; counts as its consent). It takes effect
    when every outcome payer has consented: at once if the proposer is the only one, or an operator."""
    if (replay := await idem.replay()) is not None:
        return replay
    state = await grants.propose_membership_grant(session, principal, partnership_id, body)
    return await idem.respond(201, schemas.MembershipGrantRead.model_validate(state))


@router.get(GRANTS + "/{grant_id}", responses=ONE, tags=["partnerships"])
async def get_membership_grant(
    session: DbSession, principal: PartnerReader, partnership_id: uuid.UUID, grant_id: uuid.UUID
) -> schemas.MembershipGrantRead:
    state = await grants.get_membership_grant(session, principal, partnership_id, grant_id)
    return schemas.MembershipGrantRead.model_validate(state)


@router.post(
    GRANTS + "/{grant_id}/consents",
    responses=WRITE,
    tags=["partnerships"],
    response_model=schemas.MembershipGrantRead,
)
async def consent_to_membership_grant(
    session: DbSession,
    principal: PartnerWriter,
    idem: IdempotencyKey,
    partnership_id: uuid.UUID,
    grant_id: uuid.UUID,
) -> JSONResponse:
    """Your organisation's consent, as one of the partnership's outcome payers (a repeat changes
    nothing); the last consent needed makes the membership."""
    if (replay := await idem.replay()) is not None:
        return replay
    state = await grants.consent_to_membership_grant(session, principal, partnership_id, grant_id)
    return await idem.respond(200, schemas.MembershipGrantRead.model_validate(state))


@router.delete(GRANTS + "/{grant_id}", responses=WRITE, tags=["partnerships"])
async def decline_membership_grant(
    session: DbSession, principal: PartnerWriter, partnership_id: uuid.UUID, grant_id: uuid.UUID
) -> schemas.MembershipGrantRead:
    """Decline a pending grant (any outcome payer, or an operator); it is kept, as declined."""
    state = await grants.decline_membership_grant(session, principal, partnership_id, grant_id)
    return schemas.MembershipGrantRead.model_validate(state)
