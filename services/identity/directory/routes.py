"""The management API: organisations, users, partnerships, memberships, OAuth2 clients, the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kit.db import DbSession
from kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from kit.problems import BadRequest, problem_responses
from services.identity.dependencies import AuditReader, Idem, IfMatch, PartnerReader, PartnerWriter
from services.identity.directory import schemas, service

router = APIRouter(prefix="/v1")

R = TypeVar("R", bound=BaseModel)
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=500)]
Ids = Annotated[str | None, Query(description="Comma-separated ids: a batch read (at most 500).")]

READ = problem_responses(400, 401, 403)
ONE = problem_responses(401, 403, 404)
WRITE = problem_responses(400, 401, 403, 404, 409, 422)
UPDATE = problem_responses(400, 401, 403, 404, 412, 422, 428)


def parse_ids(ids: str | None) -> list[uuid.UUID] | None:
    if ids is None:
        return None
    parts = [p for p in ids.split(",") if p.strip()]
    if len(parts) > MAX_LIMIT:
        raise BadRequest.field("ids", f"at most {MAX_LIMIT} ids")
    try:
        return [uuid.UUID(p.strip()) for p in parts]
    except ValueError as exc:
        raise BadRequest.field("ids", "must be comma-separated UUIDs") from exc


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
    ids: Ids = None,
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
    responses=WRITE,
    tags=["organisations"],
    response_model=schemas.OrganisationRead,
)
async def create_organisation(
    session: DbSession, principal: PartnerWriter, idem: Idem, body: schemas.OrganisationCreate
) -> JSONResponse:
    """Register an organisation (operators only)."""
    if (replay := await idem.replay()) is not None:
        return replay
    row = await service.create_organisation(session, principal, body)
    return await idem.respond(201, schemas.OrganisationRead.model_validate(row), {"ETag": f'"{row.version}"'})


@router.get("/organisations/{organisation_id}", responses=ONE, tags=["organisations"])
async def get_organisation(
    session: DbSession, principal: PartnerReader, organisation_id: uuid.UUID, response: Response
) -> schemas.OrganisationRead:
    row = await service.get_organisation(session, principal, organisation_id)
    return with_etag(schemas.OrganisationRead, row, response)


@router.patch("/organisations/{organisation_id}", responses=UPDATE, tags=["organisations"])
async def update_organisation(
    session: DbSession,
    principal: PartnerWriter,
    organisation_id: uuid.UUID,
    body: schemas.OrganisationUpdate,
    version: IfMatch,
    response: Response,
) -> schemas.OrganisationRead:
    """Rename an organisation (its admins or an operator); send `If-Match` with the ETag you read."""
    row = await service.update_organisation(session, principal, organisation_id, body, if_match=version)
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
    responses=WRITE,
    tags=["users"],
    response_model=schemas.UserRead,
)
async def create_user(
    request: Request,
    session: DbSession,
    principal: PartnerWriter,
    idem: Idem,
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
    ids: Ids = None,
    organisation_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.UserRead]:
    page = await service.list_users(
        session, principal, ids=parse_ids(ids), organisation_id=organisation_id, cursor=cursor, limit=limit
    )
    return page_of(schemas.UserRead, page)


@router.get("/users/{user_id}", responses=ONE, tags=["users"])
async def get_user(
    session: DbSession, principal: PartnerReader, user_id: uuid.UUID, response: Response
) -> schemas.UserRead:
    row = await service.get_user(session, principal, user_id)
    return with_etag(schemas.UserRead, row, response)


@router.patch("/users/{user_id}", responses=UPDATE, tags=["users"])
async def update_user(
    session: DbSession,
    principal: PartnerWriter,
    user_id: uuid.UUID,
    body: schemas.UserUpdate,
    version: IfMatch,
    response: Response,
) -> schemas.UserRead:
    """Change a user's name or organisation role (its organisation's admins or an operator)."""
    row = await service.update_user(session, principal, user_id, body, if_match=version)
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
    await service.change_password(session, principal, user_id, body, passwords=request.app.state.passwords)
    return Response(status_code=204)


# --- partnerships and memberships -------------------------------------------------------------------------


@router.get("/partnerships", responses=READ, tags=["partnerships"])
async def list_partnerships(
    session: DbSession,
    principal: PartnerReader,
    ids: Ids = None,
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
    responses=WRITE,
    tags=["partnerships"],
    response_model=schemas.PartnershipRead,
)
async def create_partnership(
    session: DbSession, principal: PartnerWriter, idem: Idem, body: schemas.PartnershipCreate
) -> JSONResponse:
    """Start a partnership (operators only); add its members next."""
    if (replay := await idem.replay()) is not None:
        return replay
    row = await service.create_partnership(session, principal, body)
    return await idem.respond(201, schemas.PartnershipRead.model_validate(row), {"ETag": f'"{row.version}"'})


@router.get("/partnerships/{partnership_id}", responses=ONE, tags=["partnerships"])
async def get_partnership(
    session: DbSession, principal: PartnerReader, partnership_id: uuid.UUID, response: Response
) -> schemas.PartnershipRead:
    row = await service.get_partnership(session, principal, partnership_id)
    return with_etag(schemas.PartnershipRead, row, response)


@router.patch("/partnerships/{partnership_id}", responses=UPDATE, tags=["partnerships"])
async def update_partnership(
    session: DbSession,
    principal: PartnerWriter,
    partnership_id: uuid.UUID,
    body: schemas.PartnershipUpdate,
    version: IfMatch,
    response: Response,
) -> schemas.PartnershipRead:
    row = await service.update_partnership(session, principal, partnership_id, body, if_match=version)
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
    idem: Idem,
    partnership_id: uuid.UUID,
    body: schemas.MembershipCreate,
) -> JSONResponse:
    """Give an organisation a role in the partnership (its outcome payer or an operator)."""
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
    await service.delete_membership(session, principal, partnership_id, membership_id)
    return Response(status_code=204)


# --- clients ----------------------------------------------------------------------------------------------


@router.get("/organisations/{organisation_id}/clients", responses=READ, tags=["clients"])
async def list_clients(
    session: DbSession,
    principal: PartnerReader,
    organisation_id: uuid.UUID,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[schemas.ClientRead]:
    page = await service.list_clients(
        session, principal, organisation_id=organisation_id, cursor=cursor, limit=limit
    )
    return page_of(schemas.ClientRead, page)


@router.post(
    "/organisations/{organisation_id}/clients",
    status_code=201,
    responses=WRITE,
    tags=["clients"],
    response_model=schemas.ClientCreated,
)
async def create_client(
    request: Request,
    session: DbSession,
    principal: PartnerWriter,
    idem: Idem,
    organisation_id: uuid.UUID,
    body: schemas.ClientCreate,
) -> JSONResponse:
    """Register an OAuth2 client (the organisation's admins or an operator). A confidential client's
    secret is in this response only."""
    if (replay := await idem.replay()) is not None:
        return replay
    row, secret = await service.create_client(
        session, principal, organisation_id, body, hash_key=request.app.state.hash_key
    )
    created = schemas.ClientCreated.model_validate(
        {**schemas.ClientRead.model_validate(row).model_dump(), "client_secret": secret}
    )
    return await idem.respond(201, created, {"Cache-Control": "no-store"})


@router.get("/clients/{client_id}", responses=ONE, tags=["clients"])
async def get_client(
    session: DbSession, principal: PartnerReader, client_id: uuid.UUID
) -> schemas.ClientRead:
    return schemas.ClientRead.model_validate(await service.get_client(session, principal, client_id))


@router.delete("/clients/{client_id}", responses=ONE, tags=["clients"])
async def disable_client(
    session: DbSession, principal: PartnerWriter, client_id: uuid.UUID
) -> schemas.ClientRead:
    """Disable a client: it can no longer obtain tokens (those it holds expire within 15 minutes)."""
    return schemas.ClientRead.model_validate(await service.disable_client(session, principal, client_id))


# --- audit ------------------------------------------------------------------------------------------------


@router.get("/audit-events", responses=READ, tags=["audit"])
async def list_audit_events(
    session: DbSession,
    principal: AuditReader,
    organisation_id: uuid.UUID | None = None,
    entity_id: str | None = None,
    action: str | None = None,
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
