"""HTTP routes for post-payment audits: the payer opens, records findings and closes; the provider
disputes a finding; the statements' readers read an audit's totals, the provider and payer its claims."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from kit.auth import Principal
from kit.db import DbSession
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, Limit, Page, encode_cursor
from kit.problems import problem_responses
from kit.reads import Row
from services.outcomes import access
from services.outcomes.audits import service
from services.outcomes.audits.models import PaymentAudit
from services.outcomes.audits.schemas import AuditCreate, AuditRead, FindingDisputeCreate, FindingsCreate
from services.outcomes.collaborators import Deps
from services.outcomes.dependencies import (
    ExpectedVersion,
    IdempotencyKey,
    OutcomeReader,
    OutcomeWriter,
    RegistryDeps,
    RuleDeps,
    cursor_after,
    etag,
)
from services.outcomes.statements import small_cells

router = APIRouter(prefix="/v1", tags=["statements and ledger"])


async def _read(session: DbSession, principal: Principal, audit: PaymentAudit, deps: Deps) -> AuditRead:
    """The provider and the auditing payer read the audit's claims and exact figures; every other reader
    its totals under the small-cell rule (statements/small_cells.py)."""
    if access.may_read_audit_claims(principal, audit):
        claims = await service.audit_claims(session, audit.id)
        return AuditRead.model_validate(Row(audit, claims=claims), from_attributes=True)
    threshold = await deps.contracts.small_cell_threshold(audit.partnership_id, token=deps.token)
    withheld = small_cells.audit(audit.population_claims, audit.working, threshold)
    return AuditRead.model_validate(Row(audit, claims=None, **withheld), from_attributes=True)


@router.post(
    "/payment-audits",
    status_code=201,
    response_model=AuditRead,
    summary="The payer opens an audit of its paid claims for a period; the sample is drawn from the seed",
    responses={**problem_responses(400, 401, 403, 409, 422, 503), **sends(201, "ETag", "Location")},
)
async def open_audit(
    body: AuditCreate, session: DbSession, principal: OutcomeWriter, idem: IdempotencyKey, deps: RegistryDeps
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    audit = await service.open_audit(session, principal, body, deps)
    read = await _read(session, principal, audit, deps)
    return await idem.respond(
        201, read, {**etag(audit.version), "Location": f"/v1/payment-audits/{audit.id}"}
    )


@router.get(
    "/payment-audits",
    response_model=Page[AuditRead],
    summary="Audits visible to you",
    responses=problem_responses(400, 401, 403),
)
async def list_audits(
    session: DbSession,
    principal: OutcomeReader,
    deps: RuleDeps,
    contract_id: UUID | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AuditRead]:
    rows = await service.list_audits(
        session, principal, contract_id=contract_id, after=cursor_after(cursor), limit=limit
    )
    return Page(
        items=[await _read(session, principal, a, deps) for a in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get(
    "/payment-audits/{audit_id}",
    response_model=AuditRead,
    summary="An audit: its seed, rule and totals; its population and findings to the provider and payer",
    responses={**problem_responses(401, 403, 404), **sends(200, "ETag")},
)
async def get_audit(
    audit_id: UUID, session: DbSession, principal: OutcomeReader, response: Response, deps: RuleDeps
) -> AuditRead:
    audit = await service.get_audit(session, principal, audit_id)
    response.headers.update(etag(audit.version))
    return await _read(session, principal, audit, deps)


@router.post(
    "/payment-audits/{audit_id}/findings",
    response_model=AuditRead,
    summary="The payer records findings on sampled claims (valid, or invalid with its reason)",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422), **sends(200, "ETag")},
)
async def record_findings(
    audit_id: UUID,
    body: FindingsCreate,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    expected: ExpectedVersion,
    deps: RuleDeps,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    audit = await service.record_findings(
        session, principal, audit_id, body.findings, expected_version=expected
    )
    return await idem.respond(200, await _read(session, principal, audit, deps), etag(audit.version))


@router.post(
    "/payment-audits/{audit_id}/disputes",
    response_model=AuditRead,
    summary="The provider disputes an invalid finding, once; the payer's next finding on it decides it",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422), **sends(200, "ETag")},
)
async def dispute_finding(
    audit_id: UUID,
    body: FindingDisputeCreate,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    expected: ExpectedVersion,
    deps: RuleDeps,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    audit = await service.dispute_finding(session, principal, audit_id, body, expected_version=expected)
    return await idem.respond(200, await _read(session, principal, audit, deps), etag(audit.version))


@router.post(
    "/payment-audits/{audit_id}/closure",
    response_model=AuditRead,
    summary="The payer closes its audit: clawbacks and any extrapolation are booked for its next statement",
    responses={**problem_responses(400, 401, 403, 404, 409, 412), **sends(200, "ETag")},
)
async def close_audit(
    audit_id: UUID,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    expected: ExpectedVersion,
    deps: RuleDeps,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    audit = await service.close_audit(session, principal, audit_id, expected_version=expected)
    return await idem.respond(200, await _read(session, principal, audit, deps), etag(audit.version))
