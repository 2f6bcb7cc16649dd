"""HTTP routes of open data: the disclosure statuses and their audit, the INDIGO and OCDS exports members
read, publication, and the public read (no token; rate-limited; `ETag` and `Cache-Control: public,
no-cache`, so a cache may keep a copy but asks each time whether it still stands)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response

from kit.auth import bearer_token
from kit.db import DbSession
from kit.openapi import sends
from kit.problems import problem_responses
from kit.rows import bind_partnerships
from services.contracts.clients.outcomes import OutcomesClient
from services.contracts.dependencies import (
    ContractReader,
    ContractWriter,
    CurrentSettings,
    IdempotencyKey,
    Identity,
)
from services.contracts.disclosure import indigo, ocds, service
from services.contracts.disclosure.fields import Status
from services.contracts.disclosure.limits import PerAddressLimit
from services.contracts.disclosure.schemas import (
    BlockRead,
    DisclosureChangeRead,
    DisclosureRead,
    DisclosureUpdate,
    PublicationRead,
)
from services.contracts.disclosure.source import Source

router = APIRouter(prefix="/v1", tags=["open data"])

IfMatch = Annotated[str | None, Header(description="The ETag of the disclosure you read")]
IfNoneMatch = Annotated[str | None, Header()]
EXPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "The standard's document"}
}


def _read(view: service.PolicyView) -> DisclosureRead:
    return DisclosureRead(
        partnership_id=view.partnership_id,
        small_cell_threshold=view.small_cell_threshold,
        blocks=[
            BlockRead(
                code=b.code,
                status=b.status.value,
                disputed=b.status == Status.DISPUTED,
                source=b.source,
                description=b.description,
                exported_as=b.exported_as,
            )
            for b in view.blocks
        ],
    )


def _readers(request: Request, identity: Identity) -> service.Readers:
    outcomes: OutcomesClient = request.app.state.outcomes
    return service.Readers(identity, outcomes, bearer_token(request))


def _document(body: dict[str, Any], if_none_match: str | None, cache: str) -> Response:
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    etag = f'"{hashlib.sha256(raw).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": cache}
    if if_none_match and etag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(raw, media_type="application/json", headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# --- statuses --------------------------------------------------------------------------------------------


@router.get(
    "/partnerships/{partnership_id}/disclosure",
    response_model=DisclosureRead,
    responses={**problem_responses(401, 403, 404), **sends(200, "ETag")},
    summary="Each block's disclosure status, where it comes from, and the small-cell threshold",
)
async def get_disclosure(
    partnership_id: UUID, session: DbSession, principal: ContractReader, response: Response
) -> DisclosureRead:
    view = await service.get_policy(session, principal, partnership_id)
    response.headers["ETag"] = view.etag
    response.headers["Cache-Control"] = "private, no-cache"
    return _read(view)


@router.patch(
    "/partnerships/{partnership_id}/disclosure",
    response_model=DisclosureRead,
    responses={**problem_responses(400, 401, 403, 404, 412, 422, 428), **sends(200, "ETag")},
    summary="Change statuses or the threshold (outcome payers; If-Match required; audited)",
)
async def change_disclosure(
    partnership_id: UUID,
    body: DisclosureUpdate,
    session: DbSession,
    principal: ContractWriter,
    response: Response,
    if_match: IfMatch = None,
) -> DisclosureRead:
    """A block taken out of `public` is announced as `dk.effekt.disclosure.withdrawn` on the feed and
    webhooks: consumers delete their copies."""
    view = await service.change_policy(
        session,
        principal,
        partnership_id,
        blocks={code: Status(status) for code, status in body.blocks.items()},
        threshold=body.small_cell_threshold,
        reason=body.reason,
        if_match=if_match,
    )
    response.headers["ETag"] = view.etag
    return _read(view)


@router.get(
    "/partnerships/{partnership_id}/disclosure-changes",
    response_model=list[DisclosureChangeRead],
    responses=problem_responses(401, 403, 404),
    summary="The audit of every disclosure change, newest first",
)
async def list_disclosure_changes(
    partnership_id: UUID,
    session: DbSession,
    principal: ContractReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DisclosureChangeRead]:
    changes = await service.list_changes(session, principal, partnership_id, limit=limit)
    return [DisclosureChangeRead.model_validate(c, from_attributes=True) for c in changes]


# --- exports members read --------------------------------------------------------------------------------


@router.get(
    "/partnerships/{partnership_id}/indigo",
    response_class=Response,
    responses={**EXPORT, **problem_responses(401, 403, 404, 503), **sends(200, "ETag")},
    summary="The partnership as an INDIGO project document: public blocks only, small cells withheld",
)
async def get_indigo(
    partnership_id: UUID,
    request: Request,
    session: DbSession,
    principal: ContractReader,
    identity: Identity,
    settings: CurrentSettings,
    if_none_match: IfNoneMatch = None,
) -> Response:
    source = await service.live_source(
        session,
        principal,
        partnership_id,
        _readers(request, identity),
        ocid_prefix=settings.ocid_prefix,
        base_url=_base(request),
    )
    return _document(indigo.render(source), if_none_match, "private, no-cache")


@router.get(
    "/contracts/{contract_id}/ocds-record",
    response_class=Response,
    responses={**EXPORT, **problem_responses(401, 403, 404, 503), **sends(200, "ETag")},
    summary="The contract as an OCDS record package: a release per version and the compiled release",
)
async def get_ocds_record(
    contract_id: UUID,
    request: Request,
    session: DbSession,
    principal: ContractReader,
    identity: Identity,
    settings: CurrentSettings,
    if_none_match: IfNoneMatch = None,
) -> Response:
    partnership_id = await service.partnership_of_contract(session, contract_id)
    source = await service.live_source(
        session,
        principal,
        partnership_id,
        _readers(request, identity),
        ocid_prefix=settings.ocid_prefix,
        base_url=_base(request),
    )
    return _document(_record(source, contract_id, str(request.url), None), if_none_match, "private, no-cache")


def _record(source: Source, contract_id: UUID, uri: str, published: datetime | None) -> dict[str, Any]:
    contract = service.contract_of(source, contract_id)
    when = published or max(v.activated_at for v in contract.versions)
    return ocds.record_package(source, contract, uri=uri, published=when)


@router.post(
    "/partnerships/{partnership_id}/publications",
    status_code=201,
    response_model=PublicationRead,
    responses=problem_responses(400, 401, 403, 404, 503),
    summary="Publish: refresh the public read's organisations and results (outcome payers)",
)
async def publish(
    partnership_id: UUID,
    request: Request,
    session: DbSession,
    principal: ContractWriter,
    identity: Identity,
    idempotency: IdempotencyKey,
) -> Response:
    if replay := await idempotency.replay():
        return replay
    publication = await service.publish(session, principal, partnership_id, _readers(request, identity))
    return await idempotency.respond(201, PublicationRead.model_validate(publication, from_attributes=True))


# --- the public read -------------------------------------------------------------------------------------

PUBLIC_CACHE = "public, no-cache"


def _limit(request: Request) -> None:
    limit: PerAddressLimit = request.app.state.public_reads
    limit.check(request.client.host if request.client else "unknown")


@router.get(
    "/public/partnerships/{partnership_id}/indigo",
    response_class=Response,
    responses={**EXPORT, **problem_responses(404, 429), **sends(200, "ETag")},
    summary="Public, no token: the last publication as an INDIGO project document",
)
async def get_public_indigo(
    partnership_id: UUID,
    request: Request,
    session: DbSession,
    settings: CurrentSettings,
    if_none_match: IfNoneMatch = None,
) -> Response:
    _limit(request)
    # No caller, so no partnership of its own: this read is of the one partnership it names, and renders
    # only what its outcome payers published (the row policies, docs/operations.md).
    bind_partnerships([partnership_id])
    source, _ = await service.public_source(
        session, partnership_id, ocid_prefix=settings.ocid_prefix, base_url=_base(request)
    )
    return _document(indigo.render(source), if_none_match, PUBLIC_CACHE)


@router.get(
    "/public/contracts/{contract_id}/ocds-record",
    response_class=Response,
    responses={**EXPORT, **problem_responses(404, 429), **sends(200, "ETag")},
    summary="Public, no token: the contract as an OCDS record package",
)
async def get_public_ocds_record(
    contract_id: UUID,
    request: Request,
    session: DbSession,
    settings: CurrentSettings,
    if_none_match: IfNoneMatch = None,
) -> Response:
    _limit(request)
    # No caller: find the contract's partnership (in a transaction of its own that may look in every
    # one), then read only that partnership's published blocks (the row policies, docs/operations.md).
    bind_partnerships((), every=True)
    partnership_id = await service.partnership_of_contract(session, contract_id)
    await session.rollback()
    bind_partnerships([partnership_id])
    source, published = await service.public_source(
        session, partnership_id, ocid_prefix=settings.ocid_prefix, base_url=_base(request)
    )
    return _document(_record(source, contract_id, str(request.url), published), if_none_match, PUBLIC_CACHE)
