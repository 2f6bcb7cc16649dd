"""The management API: organisations, users, partnerships, memberships, OAuth2 clients, the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kit.db import DbSession
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, IdList, Limit, Page, parse_ids
from kit.problems import problem_responses
from kit.text import Text
from services.identity.dependencies import (
    AuditReader,
    ExpectedVersion,
    IdempotencyKey,
    PartnerReader,
    PartnerWriter,
)
from services.identity.directory import schemas, service

router = APIRouter(prefix="/v1")

R = TypeVar("R", bound=BaseModel)
Cursor = Annotated[str | None, Query(max_length=500)]

READ = problem_responses(400, 401, 403)
ONE = problem_responses(401, 403, 404)
WRITE = problem_responses(400, 401, 403, 404, 409, 422)
UPDATE = problem_responses(400, 401, 403, 404, 412, 422, 428)


def page_of(model: type[R], page: Page[Any]) -> Page[R]:
    return Page[model](  # type: ignore[valid-type]
        items=[model.model_validate(row) for row in page.items], next_cursor=page.next_cursor
    )


def with_etag(model: type[R], row: Any, response: Response) -> R:
    response.headers["ETag"] = f'"{row.version}"'
    return model.model_validate(row)


# --- organisations ----------------------------------------------------------------------------------------


@router.get("/organisations", responses=READ, tags=["organisations"])
async def list_organisations(
    session: DbSession,
    principal: PartnerReader,
    ids: IdList = None,
    partner_type: schemas.PartnerType | None = None,
    partnership_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.OrganisationRead]:
    """Organisations the caller may see: its own and its partners' (every one, for operators)."""
    page = await service.list_organisations(
        session,
        principal,
        ids=parse_ids(ids),
        partner_type=partner_type,
        partnership_id=partnership_id,
        cursor=cursor,
        limit=limit,
    )
    return page_of(schemas.OrganisationRead, page)


@router.post(
    "/organisations",
    status_code=201,
    responses={**WRITE, **sends(201, "ETag")},
    tags=["organisations"],
    response_model=schemas.OrganisationRead,
)
async def create_organisation(
    session: DbSession, principal: PartnerWriter, idem: IdempotencyKey, body: schemas.OrganisationCreate
) -> JSONResponse:
    """Register an organisation (operators only)."""
    if (replay := await idem.replay()) is not None:
        return replay
    row = await service.create_organisation(session, principal, body)
    return await idem.respond(201, schemas.OrganisationRead.model_validate(row), {"ETag": f'"{row.version}"'})


@router.get(
    "/organisations/{organisation_id}", responses={**ONE, **sends(200, "ETag")}, tags=["organisations"]
)
async def get_organisation(
    session: DbSession, principal: PartnerReader, organisation_id: uuid.UUID, response: Response
) -> schemas.OrganisationRead:
    row = await service.get_organisation(session, principal, organisation_id)
    return with_etag(schemas.OrganisationRead, row, response)


@router.patch(
    "/organisations/{organisation_id}", responses={**UPDATE, **sends(200, "ETag")}, tags=["organisations"]
)
async def update_organisation(
    session: DbSession,
    principal: PartnerWriter,
    organisation_id: uuid.UUID,
    body: schemas.OrganisationUpdate,
    expected: ExpectedVersion,
    response: Response,
) -> schemas.OrganisationRead:
    """Rename an organisation (its admins or an operator); send `If-Match` with the ETag you read."""
    row = await service.update_organisation(
        session, principal, organisation_id, body, expected_version=expected
    )
    return with_etag(schemas.OrganisationRead, row, response)


# --- users ------------------------------------------------------------------------------------------------


@router.get("/organisations/{organisation_id}/users", responses=READ, tags=["users"])
async def list_organisation_users(
    session: DbSession,
    principal: PartnerReader,
    organisation_id: uuid.UUID,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.UserRead]:
    page = await service.list_users(
        session, principal, organisation_id=organisation_id, cursor=cursor, limit=limit
    )
    return page_of(schemas.UserRead, page)


@router.post(
    "/organisations/{organisation_id}/users",
    status_code=201,
    responses={**WRITE, **sends(201, "ETag")},
    tags=["users"],
    response_model=schemas.UserRead,
)
async def create_user(
    request: Request,
    session: DbSession,
    principal: PartnerWriter,
    idem: IdempotencyKey,
    organisation_id: uuid.UUID,
    body: schemas.UserCreate,
) -> JSONResponse:
    """Add a user to an organisation (its admins or an operator)."""
    if (replay := await idem.replay()) is not None:
        return replay
    row = await service.create_user(
        session, principal, organisation_id, body, passwords=request.app.state.passwords
    )
    return await idem.respond(201, schemas.UserRead.model_validate(row), {"ETag": f'"{row.version}"'})


@router.get("/users", responses=READ, tags=["users"])
async def list_users(
    session: DbSession,
    principal: PartnerReader,
    ids: IdList = None,
    organisation_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.UserRead]:
    page = await service.list_users(
        session, principal, ids=parse_ids(ids), organisation_id=organisation_id, cursor=cursor, limit=limit
    )
    return page_of(schemas.UserRead, page)


@router.get("/users/{user_id}", responses={**ONE, **sends(200, "ETag")}, tags=["users"])
async def get_user(
    session: DbSession, principal: PartnerReader, user_id: uuid.UUID, response: Response
) -> schemas.UserRead:
    row = await service.get_user(session, principal, user_id)
    return with_etag(schemas.UserRead, row, response)


@router.patch("/users/{user_id}", responses={**UPDATE, **sends(200, "ETag")}, tags=["users"])
async def update_user(
    session: DbSession,
    principal: PartnerWriter,
    user_id: uuid.UUID,
    body: schemas.UserUpdate,
    expected: ExpectedVersion,
    response: Response,
) -> schemas.UserRead:
    """Change a user's name or organisation role (its organisation's admins or an operator)."""
    row = await service.update_user(session, principal, user_id, body, expected_version=expected)
    return with_etag(schemas.UserRead, row, response)


@router.delete("/users/{user_id}", responses={**ONE, **sends(200, "ETag")}, tags=["users"])
async def disable_user(
    session: DbSession, principal: PartnerWriter, user_id: uuid.UUID, response: Response
) -> schemas.UserRead:
    """Disable a user (its organisation's admins or an operator): it can no longer sign in or refresh, and
    the tokens it holds are refused everywhere within seconds. The user stays, for the audit trail."""
    row = await service.disable_user(session, principal, user_id)
    return with_etag(schemas.UserRead, row, response)


@router.put("/users/{user_id}/password", status_code=204, responses=WRITE, tags=["users"])
async def change_password(
    request: Request,
    session: DbSession,
    principal: PartnerWriter,
    user_id: uuid.UUID,
    body: schemas.PasswordChange,
) -> Response:
    """Set a password: users their own (with the current one), admins and operators anyone's in their
    reach. Unlocks the account and ends its refresh tokens."""
    await service.change_password(
        session,
        principal,
        user_id,
        body,
        passwords=request.app.state.passwords,
        hash_key=request.app.state.hash_key,
    )
    return Response(status_code=204)


# --- audit ------------------------------------------------------------------------------------------------


@router.get("/audit-events", responses=READ, tags=["audit"])
async def list_audit_events(
    session: DbSession,
    principal: AuditReader,
    organisation_id: uuid.UUID | None = None,
    entity_id: Annotated[Text | None, Query(max_length=100)] = None,
    action: Annotated[Text | None, Query(max_length=60)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.AuditEventRead]:
    """Changes, oldest first: operators see all; an organisation's admins those concerning it."""
    page = await service.list_audit_events(
        session,
        principal,
        organisation_id=organisation_id,
        entity_id=entity_id,
        action=action,
        cursor=cursor,
        limit=limit,
    )
    return page_of(schemas.AuditEventRead, page)
