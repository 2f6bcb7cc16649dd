"""HTTP routes for proposing a draft and signing it."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response

from kit.auth import bearer_token
from kit.db import DbSession
from kit.problems import problem_responses
from services.contracts.dependencies import ContractSigner, ContractWriter, IdempotencyKey, Identity
from services.contracts.routes import IfMatch, transition_response
from services.contracts.schemas import SignatureCreate, VersionRead
from services.contracts.signing import service

router = APIRouter(prefix="/v1", tags=["contracts"])


@router.post(
    "/contract-versions/{version_id}/proposal",
    response_model=VersionRead,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422, 503),
    summary="Propose a draft for signature: freezes it and fixes its content hash",
)
async def propose_version(
    version_id: UUID,
    request: Request,
    session: DbSession,
    principal: ContractWriter,
    idempotency: IdempotencyKey,
    identity: Identity,
    if_match: IfMatch = None,
) -> Response:
    if replay := await idempotency.replay():
        return replay
    await service.propose_version(
        session, principal, version_id, if_match=if_match, identity=identity, token=bearer_token(request)
    )
    return await transition_response(session, principal, idempotency, version_id)


@router.post(
    "/contract-versions/{version_id}/signatures",
    status_code=201,
    response_model=VersionRead,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
    summary="Sign a proposed version for your organisation",
)
async def sign_version(
    version_id: UUID,
    session: DbSession,
    principal: ContractSigner,
    idempotency: IdempotencyKey,
    body: SignatureCreate | None = None,
) -> Response:
    if replay := await idempotency.replay():
        return replay
    await service.sign_version(
        session, principal, version_id, expected_hash=body.content_hash if body else None
    )
    return await transition_response(session, principal, idempotency, version_id, 201)
