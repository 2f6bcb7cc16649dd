"""OAuth2 client registration over HTTP."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kit.db import DbSession
from kit.pagination import DEFAULT_LIMIT, Limit, Page
from services.identity.applications import schemas, service
from services.identity.dependencies import IdempotencyKey, PartnerReader, PartnerWriter
from services.identity.directory.routes import ONE, READ, WRITE, Cursor, page_of

router = APIRouter(prefix="/v1")


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
    idem: IdempotencyKey,
    organisation_id: uuid.UUID,
    body: schemas.ClientCreate,
) -> JSONResponse:
    """Register an OAuth2 client (the organisation's admins or an operator). A confidential client's
    secret is in this response only (and in its replay to an `Idempotency-Key` retry: stored sealed)."""
    if (replay := await idem.replay()) is not None:
        return replay
    row, secret = await service.create_client(
        session, principal, organisation_id, body, hash_key=request.app.state.hash_key
    )
    created = schemas.ClientCreated.model_validate(
        {**schemas.ClientRead.model_validate(row).model_dump(), "client_secret": secret}
    )
    return await idem.respond(201, created, {"Cache-Control": "no-store"}, sealed=("client_secret",))


@router.get("/clients/{client_id}", responses=ONE, tags=["clients"])
async def get_client(
    session: DbSession, principal: PartnerReader, client_id: uuid.UUID
) -> schemas.ClientRead:
    return schemas.ClientRead.model_validate(await service.get_client(session, principal, client_id))


@router.delete("/clients/{client_id}", responses=ONE, tags=["clients"])
async def disable_client(
    session: DbSession, principal: PartnerWriter, client_id: uuid.UUID
) -> schemas.ClientRead:
    """Disable a client: it can no longer obtain tokens, and those it holds are refused everywhere within
    seconds."""
    return schemas.ClientRead.model_validate(await service.disable_client(session, principal, client_id))
