"""HTTP routes for outcome claims: submission, reads, the evidence document, verification and disputes.

Writes take `Idempotency-Key`; decisions take `If-Match` with the ETag (`"<version>"`) a read returned.
Evidence documents are never served to evaluators (`access.may_read_evidence`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.db import DbSession, request_session
from kit.idempotency import Idempotency
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, IdList, Limit, Page, encode_cursor, parse_ids
from kit.problems import Problem, problem_responses
from kit.reads import Row
from services.outcomes.claims import service as claims
from services.outcomes.claims import verification
from services.outcomes.collaborators import Deps
from services.outcomes.dependencies import (
    ExpectedVersion,
    IdempotencyKey,
    OutcomeReader,
    OutcomeVerifier,
    OutcomeWriter,
    RegistryDeps,
    UnboundIdempotencyKey,
    cursor_after,
    etag,
)
from services.outcomes.groups import Kind, groups_of, in_rounds
from services.outcomes.models import OutcomeClaim
from services.outcomes.schemas import (
    ClaimCreate,
    ClaimRead,
    Decision,
    DisputeCreate,
)
from services.outcomes.states import ClaimStatus

router = APIRouter(prefix="/v1", tags=["outcomes"])


def claim_read(claim: OutcomeClaim, lines: list[claims.SplitLine]) -> ClaimRead:
    """The claim with its payer split, which exists only once the claim is priced (`null` before)."""
    split = lines if claim.priced_on is not None else None
    return ClaimRead.model_validate(Row(claim, split=split), from_attributes=True)


async def _claim_response(session: DbSession, claim: OutcomeClaim) -> ClaimRead:
    # No refresh: the claim was read under its row lock and written in this transaction, and no column
    # of it has a server-side default on update.
    lines = (await claims.split_lines(session, [claim.id])).get(claim.id, [])
    return claim_read(claim, lines)


@router.post(
    "/outcome-claims",
    status_code=201,
    response_model=ClaimRead,
    summary="Claim that a participant achieved an outcome",
    responses={**problem_responses(400, 401, 403, 404, 413, 422, 503), **sends(201, "ETag", "Location")},
)
async def submit_claim(
    request: Request,
    body: ClaimCreate,
    principal: OutcomeWriter,
    idem: UnboundIdempotencyKey,
    deps: RegistryDeps,
) -> Response:
    groups = groups_of(request, CLAIMS)
    if groups is not None:  # written with the claims arriving alongside (groups.py), in the group's session
        return await groups.submit(principal, body, idem, deps)
    async with request_session(request) as session:  # committed before the answer, as DbSession is
        idem = idem.bound(session)
        if (replayed := await idem.replay()) is not None:
            return replayed
        claim = await claims.submit_claim(session, principal, body, deps)
        read, headers = _created(claim)
        return await idem.respond(201, read, headers)


def _created(claim: OutcomeClaim) -> tuple[ClaimRead, dict[str, str]]:
    """A new claim's answer: unpriced, so no split; every column is known (eager_defaults)."""
    return claim_read(claim, []), {**etag(claim.version), "Location": f"/v1/outcome-claims/{claim.id}"}


async def _render_created(
    session: AsyncSession, principal: Principal, made: list[OutcomeClaim]
) -> list[tuple[Any, dict[str, str]]]:
    return [_created(claim) for claim in made]


# Claims span callers: `submit_each` admits each by its own caller's rule (groups.py).
CLAIMS: Kind[ClaimCreate, OutcomeClaim] = Kind(
    "claim", claims.submit_many, _render_created, 201, each=claims.submit_each
)


async def _decide_group(
    session: AsyncSession, principal: Principal, decisions: list[verification.Decided], deps: Deps
) -> list[OutcomeClaim | Problem]:
    return await verification.decide_many(session, principal, None, decisions, deps)


async def _render_decided(
    session: AsyncSession, principal: Principal, decided: list[OutcomeClaim]
) -> list[tuple[Any, dict[str, str]]]:
    """What `_claim_response` answers for each: the claims hold what `decide_many` wrote, and their new
    lines are remembered (read back in one query only for a claim it did not price)."""
    ids = list(dict.fromkeys(claim.id for claim in decided))
    lines = await claims.split_lines(session, ids)
    return [(claim_read(claim, lines.get(claim.id, [])), etag(claim.version)) for claim in decided]


# Verifications and dispute resolutions: a claim decided twice in one group is decided in a later round.
DECISIONS: Kind[verification.Decided, OutcomeClaim] = Kind(
    "decision", in_rounds(lambda d: d.claim_id, _decide_group), _render_decided, 200
)


@router.get(
    "/outcome-claims",
    response_model=Page[ClaimRead],
    summary="Claims visible to you (batch: `ids=`)",
    responses=problem_responses(400, 401, 403, 422),
)
async def list_claims(
    session: DbSession,
    principal: OutcomeReader,
    partnership_id: UUID | None = None,
    participant_id: UUID | None = None,
    status: ClaimStatus | None = None,
    ids: IdList = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ClaimRead]:
    rows = await claims.list_claims(
        session,
        principal,
        partnership_id=partnership_id,
        participant_id=participant_id,
        status=status,
        ids=parse_ids(ids),
        after=cursor_after(cursor),
        limit=limit,
    )
    lines = await claims.split_lines(session, [c.id for c in rows])
    return Page(
        items=[claim_read(c, lines.get(c.id, [])) for c in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get(
    "/outcome-claims/{claim_id}",
    response_model=ClaimRead,
    responses={**problem_responses(401, 403, 404), **sends(200, "ETag")},
)
async def get_claim(
    claim_id: UUID, session: DbSession, principal: OutcomeReader, response: Response
) -> ClaimRead:
    claim = await claims.get_claim(session, principal, claim_id)
    response.headers.update(etag(claim.version))
    return claim_read(claim, (await claims.split_lines(session, [claim.id])).get(claim.id, []))


@router.get(
    "/outcome-claims/{claim_id}/evidence-document",
    response_class=Response,
    summary="The uploaded evidence document (never to evaluators)",
    responses={200: {"content": {"application/octet-stream": {}}}, **problem_responses(401, 403, 404)},
)
async def get_evidence_document(claim_id: UUID, session: DbSession, principal: OutcomeReader) -> Response:
    claim, document = await claims.evidence_document(session, principal, claim_id)
    return Response(
        document,
        media_type=claim.evidence_media_type or "application/octet-stream",
        headers={"Digest": f"sha-256={claim.evidence_sha256}", "Cache-Control": "private, no-store"},
    )


async def _decide(
    request: Request,
    claim_id: UUID,
    body: Decision,
    principal: Principal,
    idem: Idempotency,
    deps: Deps,
    expected: int | None,
    *,
    resolution: bool,
) -> Response:
    groups = groups_of(request, DECISIONS)
    if groups is not None:  # decided with the decisions arriving alongside (groups.py), in its session
        decided = verification.Decided(
            claim_id, body.decision, body.reason, expected_version=expected, resolution=resolution
        )
        return await groups.submit(principal, decided, idem, deps)
    async with request_session(request) as session:  # committed before the answer, as DbSession is
        idem = idem.bound(session)
        if (replayed := await idem.replay()) is not None:
            return replayed
        claim = await verification.decide_claim(
            session,
            principal,
            claim_id,
            decision=body.decision,
            reason=body.reason,
            resolution=resolution,
            expected_version=expected,
            deps=deps,
        )
        return await idem.respond(200, await _claim_response(session, claim), etag(claim.version))


@router.post(
    "/outcome-claims/{claim_id}/verification",
    response_model=ClaimRead,
    summary="Verify (and price) or reject a claim",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422, 503), **sends(200, "ETag")},
)
async def verify_claim(
    request: Request,
    claim_id: UUID,
    body: Decision,
    principal: OutcomeVerifier,
    idem: UnboundIdempotencyKey,
    deps: RegistryDeps,
    expected: ExpectedVersion,
) -> Response:
    return await _decide(request, claim_id, body, principal, idem, deps, expected, resolution=False)


@router.post(
    "/outcome-claims/{claim_id}/dispute",
    response_model=ClaimRead,
    summary="Dispute a rejection (once)",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422, 503), **sends(200, "ETag")},
)
async def dispute_claim(
    claim_id: UUID,
    body: DisputeCreate,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    deps: RegistryDeps,
    expected: ExpectedVersion,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    claim = await verification.dispute_claim(
        session, principal, claim_id, reason=body.reason, expected_version=expected, deps=deps
    )
    return await idem.respond(200, await _claim_response(session, claim), etag(claim.version))


@router.post(
    "/outcome-claims/{claim_id}/dispute-resolution",
    response_model=ClaimRead,
    summary="The outcome payer resolves a dispute: verified or finally rejected",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422, 503), **sends(200, "ETag")},
)
async def resolve_dispute(
    request: Request,
    claim_id: UUID,
    body: Decision,
    principal: OutcomeVerifier,
    idem: UnboundIdempotencyKey,
    deps: RegistryDeps,
    expected: ExpectedVersion,
) -> Response:
    return await _decide(request, claim_id, body, principal, idem, deps, expected, resolution=True)
