"""HTTP routes of the contract registry: parse, call `service`, shape the answer (proposal and signing
routes are in `signing.routes`, files in `attachments.routes`; both reuse the shaping helpers here).

Version reads carry an ETag (`If-None-Match` answers 304); frozen terms are served as immutable. Every
POST honours `Idempotency-Key`; draft edits need `If-Match`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse

from kit.db import DbSession
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Limit, Page, ids_query, parse_ids
from kit.problems import problem_responses
from kit.reads import Row
from services.contracts import events, service
from services.contracts.dependencies import (
    ContractReader,
    ContractSigner,
    ContractWriter,
    CurrentSettings,
    EventReader,
    IdempotencyKey,
)
from services.contracts.models import Attachment, Contract, ContractVersion
from services.contracts.schemas import (
    AmendmentCreate,
    AttachmentRead,
    ContractCreate,
    ContractEventPage,
    ContractEventRead,
    ContractRead,
    DiffRead,
    ExpiryCreate,
    LoggedVersionRead,
    TerminationCreate,
    TermsIssueRead,
    TermsValidationRead,
    VersionRead,
    WithdrawalCreate,
)
from services.contracts.terms import Terms, content_hash, diff_documents

router = APIRouter(prefix="/v1", tags=["contracts"])

MAX_IDS = 100
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
# A version in one of these statuses never changes again: its whole representation may be cached.
FINAL = frozenset({"superseded", "terminated", "expired", "withdrawn"})

READ_PROBLEMS = problem_responses(401, 403, 404)
WRITE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 422)

IfMatch = Annotated[str | None, Header(description="The ETag you read")]
IfNoneMatch = Annotated[str | None, Header()]


def version_read(view: service.VersionView) -> VersionRead:
    """The version's row, with what its view reads from other rows and checks against the stored terms."""
    return VersionRead.model_validate(
        Row(
            view.version,
            partnership_id=view.partnership_id,
            signatures=[Row(s, valid=view.signature_valid(s)) for s in view.signatures],
            required_signatories=view.required_signatories,
            pending_signatories=view.pending_signatories,
            termination_consents=view.termination_consents,
            pending_termination_consents=view.pending_termination_consents,
            attachments=view.attachments,
        ),
        from_attributes=True,
    )


def attachment_read(a: Attachment) -> AttachmentRead:
    return AttachmentRead.model_validate(a, from_attributes=True)


def contract_read(contract: Contract, versions: Sequence[ContractVersion]) -> ContractRead:
    """The contract with its versions, titled by the latest one."""
    title = versions[-1].terms["title"] if versions else ""
    return ContractRead.model_validate(Row(contract, title=title, versions=versions), from_attributes=True)


async def reread(session: DbSession, principal: ContractReader, version_id: UUID) -> service.VersionView:
    """The version after a write, as the caller now reads it (server-set timestamps included)."""
    session.expire_all()
    return await service.get_version(session, principal, version_id)


def version_headers(view: service.VersionView) -> dict[str, str]:
    cache = IMMUTABLE if view.version.status in FINAL else REVALIDATE
    return {"ETag": view.etag, "Cache-Control": cache}


def _not_modified(if_none_match: str | None, etag: str, headers: dict[str, str]) -> Response | None:
    if if_none_match and etag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return None


# --- contracts -------------------------------------------------------------------------------------------


@router.post(
    "/terms-validations",
    response_model=TermsValidationRead,
    responses=problem_responses(401, 403, 422),
    summary="Check a terms document without storing it",
)
async def validate_terms(body: Terms, principal: ContractReader) -> TermsValidationRead:
    """The document's canonical form and content hash, and what it lacks before a proposal; a 422
    names every offending field, as drafting it would."""
    document, issues = service.validate_terms(body)
    return TermsValidationRead(
        schema_version=body.schema_version,
        terms=document,
        content_hash=content_hash(document),
        proposal_issues=[TermsIssueRead(name=f"body.{i.path}", reason=i.reason) for i in issues],
    )


@router.post(
    "/contracts",
    status_code=201,
    response_model=ContractRead,
    responses={**WRITE_PROBLEMS, **sends(201, "Location")},
    summary="Draft a contract",
)
async def create_contract(
    body: ContractCreate, session: DbSession, principal: ContractWriter, idempotency: IdempotencyKey
) -> Response:
    if replay := await idempotency.replay():
        return replay
    created, _ = await service.create_contract(
        session, principal, partnership_id=body.partnership_id, terms=body.terms
    )
    contract_id = created.id
    session.expire_all()  # read back the server-set timestamps
    contract = await service.get_contract(session, principal, contract_id)
    versions = (await service.version_summaries(session, [contract.id]))[contract.id]
    return await idempotency.respond(
        201, contract_read(contract, versions), headers={"Location": f"/v1/contracts/{contract.id}"}
    )


@router.get("/contracts", response_model=Page[ContractRead], responses=problem_responses(400, 401, 403))
async def list_contracts(
    session: DbSession,
    principal: ContractReader,
    partnership_id: UUID | None = None,
    ids: Annotated[str | None, ids_query(MAX_IDS)] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ContractRead]:
    """Contracts you may read, oldest first: one partnership's, or a batch by id."""
    wanted = parse_ids(ids, at_most=MAX_IDS)
    contracts, next_cursor = await service.list_contracts(
        session,
        principal,
        partnership_id=partnership_id,
        ids=wanted,
        cursor=cursor,
        limit=MAX_LIMIT if wanted is not None else limit,
    )
    versions = await service.version_summaries(session, [c.id for c in contracts])
    return Page(items=[contract_read(c, versions[c.id]) for c in contracts], next_cursor=next_cursor)


@router.get("/contracts/{contract_id}", response_model=ContractRead, responses=READ_PROBLEMS)
async def get_contract(contract_id: UUID, session: DbSession, principal: ContractReader) -> ContractRead:
    contract = await service.get_contract(session, principal, contract_id)
    versions = (await service.version_summaries(session, [contract.id]))[contract.id]
    return contract_read(contract, versions)


@router.get("/contracts/{contract_id}/versions", response_model=Page[VersionRead], responses=READ_PROBLEMS)
async def list_contract_versions(
    contract_id: UUID, session: DbSession, principal: ContractReader
) -> Page[VersionRead]:
    views = await service.list_contract_versions(session, principal, contract_id)
    return Page(items=[version_read(v) for v in views])


@router.get(
    "/contracts/{contract_id}/versions/in-force",
    response_model=VersionRead,
    responses={**READ_PROBLEMS, **sends(200, "ETag")},
    summary="The version whose terms govern a date",
)
async def version_in_force(
    contract_id: UUID,
    session: DbSession,
    principal: ContractReader,
    on: Annotated[date | None, Query(description="The date; today (UTC) when absent")] = None,
) -> JSONResponse:
    when = on or datetime.now(UTC).date()
    view = await service.version_in_force(session, principal, contract_id, when)
    return JSONResponse(
        version_read(view).model_dump(mode="json"), headers={"ETag": view.etag, "Cache-Control": REVALIDATE}
    )


@router.post(
    "/contracts/{contract_id}/amendments",
    status_code=201,
    response_model=VersionRead,
    responses={**WRITE_PROBLEMS, **sends(201, "ETag", "Location")},
    summary="Start an amendment: a new draft derived from the active version",
)
async def amend_contract(
    contract_id: UUID,
    session: DbSession,
    principal: ContractWriter,
    idempotency: IdempotencyKey,
    body: AmendmentCreate | None = None,
) -> Response:
    if replay := await idempotency.replay():
        return replay
    version = await service.amend_contract(
        session,
        principal,
        contract_id,
        terms=body.terms if body else None,
        rationale=body.rationale if body else None,
    )
    view = await reread(session, principal, version.id)
    return await idempotency.respond(
        201,
        version_read(view),
        headers={"Location": f"/v1/contract-versions/{view.version.id}", "ETag": view.etag},
    )


# --- versions --------------------------------------------------------------------------------------------


@router.get(
    "/contract-versions", response_model=Page[VersionRead], responses=problem_responses(400, 401, 403)
)
async def get_versions(
    session: DbSession,
    principal: ContractReader,
    ids: Annotated[str, ids_query(MAX_IDS)],
) -> Page[VersionRead]:
    views = await service.get_versions(session, principal, parse_ids(ids, at_most=MAX_IDS) or [])
    return Page(items=[version_read(v) for v in views])


@router.get(
    "/contract-versions/{version_id}",
    response_model=VersionRead,
    responses={**READ_PROBLEMS, 304: {"description": "Not modified"}, **sends(200, "ETag")},
)
async def get_version(
    version_id: UUID, session: DbSession, principal: ContractReader, if_none_match: IfNoneMatch = None
) -> Response:
    """A version with its terms and signatures (each verified against the stored terms)."""
    view = await service.get_version(session, principal, version_id)
    headers = version_headers(view)
    if not_modified := _not_modified(if_none_match, view.etag, headers):
        return not_modified
    return JSONResponse(version_read(view).model_dump(mode="json"), headers=headers)


@router.get(
    "/contract-versions/{version_id}/terms",
    response_model=dict[str, Any],
    responses={**READ_PROBLEMS, 304: {"description": "Not modified"}, **sends(200, "ETag")},
    summary="A version's terms; immutable once proposed",
)
async def get_version_terms(
    version_id: UUID, session: DbSession, principal: ContractReader, if_none_match: IfNoneMatch = None
) -> Response:
    view = await service.get_version(session, principal, version_id)
    frozen = view.version.content_hash is not None
    etag = service.terms_etag(view.version)
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE if frozen else REVALIDATE}
    if not_modified := _not_modified(if_none_match, etag, headers):
        return not_modified
    return JSONResponse(view.version.terms, headers=headers)


@router.put(
    "/contract-versions/{version_id}/terms",
    response_model=VersionRead,
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422, 428), **sends(200, "ETag")},
    summary="Replace a draft's terms (If-Match required)",
)
async def update_draft_terms(
    version_id: UUID, body: Terms, session: DbSession, principal: ContractWriter, if_match: IfMatch = None
) -> JSONResponse:
    await service.update_draft_terms(session, principal, version_id, terms=body, if_match=if_match)
    view = await reread(session, principal, version_id)
    return JSONResponse(version_read(view).model_dump(mode="json"), headers=version_headers(view))


async def transition_response(
    session: DbSession,
    principal: ContractReader,
    idempotency: IdempotencyKey,
    version_id: UUID,
    status: int = 200,
) -> Response:
    view = await reread(session, principal, version_id)
    return await idempotency.respond(status, version_read(view), headers=version_headers(view))


@router.post(
    "/contract-versions/{version_id}/withdrawal",
    response_model=VersionRead,
    responses={**WRITE_PROBLEMS, **sends(200, "ETag")},
    summary="Withdraw a draft or proposal",
)
async def withdraw_version(
    version_id: UUID,
    session: DbSession,
    principal: ContractWriter,
    idempotency: IdempotencyKey,
    body: WithdrawalCreate | None = None,
) -> Response:
    if replay := await idempotency.replay():
        return replay
    await service.withdraw_version(session, principal, version_id, reason=body.reason if body else None)
    return await transition_response(session, principal, idempotency, version_id)


@router.post(
    "/contract-versions/{version_id}/termination",
    response_model=VersionRead,
    responses={**WRITE_PROBLEMS, **sends(200, "ETag")},
    summary="Terminate the active version from a date, or consent to its termination",
)
async def terminate_version(
    version_id: UUID,
    body: TerminationCreate,
    session: DbSession,
    principal: ContractSigner,
    idempotency: IdempotencyKey,
) -> Response:
    """A signatory of a party that signed the version ends it from `effective_on`: at once where the
    terms grant that party unilateral termination (no earlier than `termination.notice_days` from today,
    422 `notice-too-short`), otherwise by agreement: this records the party's consent, the version stays
    `active` with `pending_termination_consents` until every signing party consented to the same date
    (409 `termination-pending` for another date), and the last consent terminates it. Consenting again
    to the same date answers the version unchanged."""
    if replay := await idempotency.replay():
        return replay
    await service.terminate_version(
        session,
        principal,
        version_id,
        effective_on=body.effective_on,
        reason=body.reason,
        today=datetime.now(UTC).date(),
    )
    return await transition_response(session, principal, idempotency, version_id)


@router.post(
    "/contract-versions/{version_id}/expiry",
    response_model=VersionRead,
    responses={**WRITE_PROBLEMS, **sends(200, "ETag")},
    summary="Record that the active version ran past its end date",
)
async def expire_version(
    version_id: UUID,
    session: DbSession,
    principal: ContractWriter,
    idempotency: IdempotencyKey,
    body: ExpiryCreate | None = None,
) -> Response:
    if replay := await idempotency.replay():
        return replay
    await service.expire_version(
        session, principal, version_id, today=datetime.now(UTC).date(), reason=body.reason if body else None
    )
    return await transition_response(session, principal, idempotency, version_id)


@router.get(
    "/contract-versions/{version_id}/diff",
    response_model=DiffRead,
    responses=READ_PROBLEMS,
    summary="What changed in the terms from another version to this one",
)
async def diff_versions(
    version_id: UUID,
    session: DbSession,
    principal: ContractReader,
    from_: Annotated[UUID, Query(alias="from", description="The version to compare against")],
) -> DiffRead:
    before, after = await service.diff_versions(session, principal, from_, version_id)
    return DiffRead(
        from_version_id=before.id, to_version_id=after.id, **diff_documents(before.terms, after.terms)
    )


# --- change log ------------------------------------------------------------------------------------------


@router.get(
    "/contract-events",
    response_model=ContractEventPage,
    responses=problem_responses(401, 403, 422),
    summary="The registry's change log (activations, terminations, expiries), for the platform's services",
)
async def list_contract_events(
    session: DbSession,
    principal: EventReader,
    settings: CurrentSettings,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last sequence you processed")] = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> ContractEventPage:
    """Events after `after`, oldest first; `cursor` is what to send as `after` next (the same value when
    nothing new happened). Sequences only grow, in commit order. Readable by an operator with
    `contracts:read` and by the service clients named in `CONTRACTS_EVENT_READERS`."""
    found = await events.list_events(
        session, principal, after=after, limit=limit, readers=frozenset(settings.event_readers)
    )
    return ContractEventPage(
        items=[ContractEventRead.model_validate(e, from_attributes=True) for e in found],
        cursor=found[-1].sequence if found else after,
    )


@router.get(
    "/contract-events/versions/{version_id}",
    response_model=LoggedVersionRead,
    responses=problem_responses(401, 403, 404),
    summary="The frozen terms of a version the change log names, for the platform's services",
)
async def get_logged_version(
    version_id: UUID, session: DbSession, principal: EventReader, settings: CurrentSettings
) -> LoggedVersionRead:
    """Only versions that became active, and only their terms and dates: what a service needs to act on an
    activation (the outcome service re-prices claims under a retroactive amendment). Readable by the same
    callers as the change log."""
    version, partnership_id = await events.logged_version(
        session, principal, version_id, readers=frozenset(settings.event_readers)
    )
    return LoggedVersionRead.model_validate(Row(version, partnership_id=partnership_id), from_attributes=True)
