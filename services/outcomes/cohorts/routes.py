"""HTTP routes for cohort payments: the evaluator's figures, reads with the working, the payer's decision.

Writes take `Idempotency-Key`; the decision takes `If-Match` with the ETag (`"<version>"`) a read returned.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from kit.db import DbSession
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, IdList, Limit, Page, encode_cursor, parse_ids
from kit.problems import problem_responses
from services.outcomes.cohorts import service
from services.outcomes.cohorts.schemas import CohortDecision, CohortPaymentCreate, CohortPaymentRead
from services.outcomes.dependencies import (
    ExpectedVersion,
    IdempotencyKey,
    OutcomeReader,
    OutcomeVerifier,
    OutcomeWriter,
    RegistryDeps,
    cursor_after,
    etag,
)

router = APIRouter(prefix="/v1", tags=["cohort payments"])


@router.post(
    "/cohort-payments",
    status_code=201,
    response_model=CohortPaymentRead,
    summary="Submit a cohort's measured figures for a period (the evaluator); the payment is computed",
    responses={**problem_responses(400, 401, 403, 404, 409, 422, 503), **sends(201, "ETag", "Location")},
)
async def submit_cohort_payment(
    body: CohortPaymentCreate,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    deps: RegistryDeps,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    payment = await service.submit_cohort_payment(session, principal, body, deps)
    await session.refresh(payment)
    return await idem.respond(
        201,
        CohortPaymentRead.model_validate(payment),
        {**etag(payment.version), "Location": f"/v1/cohort-payments/{payment.id}"},
    )


@router.get(
    "/cohort-payments",
    response_model=Page[CohortPaymentRead],
    summary="Cohort payments visible to you, with their working (batch: `ids=`)",
    responses=problem_responses(400, 401, 403),
)
async def list_cohort_payments(
    session: DbSession,
    principal: OutcomeReader,
    contract_id: UUID | None = None,
    ids: IdList = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CohortPaymentRead]:
    rows = await service.list_cohort_payments(
        session,
        principal,
        contract_id=contract_id,
        ids=parse_ids(ids),
        after=cursor_after(cursor),
        limit=limit,
    )
    return Page(
        items=[CohortPaymentRead.model_validate(p) for p in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get(
    "/cohort-payments/{cohort_payment_id}",
    response_model=CohortPaymentRead,
    summary="A cohort payment with its working",
    responses={**problem_responses(401, 403, 404), **sends(200, "ETag")},
)
async def get_cohort_payment(
    cohort_payment_id: UUID, session: DbSession, principal: OutcomeReader, response: Response
) -> CohortPaymentRead:
    payment = await service.get_cohort_payment(session, principal, cohort_payment_id)
    response.headers.update(etag(payment.version))
    return CohortPaymentRead.model_validate(payment)


@router.post(
    "/cohort-payments/{cohort_payment_id}/decision",
    response_model=CohortPaymentRead,
    summary="Approve or reject a cohort payment (its payer; never the submitter, never an evaluator)",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422), **sends(200, "ETag")},
)
async def decide_cohort_payment(
    cohort_payment_id: UUID,
    body: CohortDecision,
    session: DbSession,
    principal: OutcomeVerifier,
    idem: IdempotencyKey,
    expected: ExpectedVersion,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    payment = await service.decide_cohort_payment(
        session,
        principal,
        cohort_payment_id,
        decision=body.decision,
        reason=body.reason,
        expected_version=expected,
    )
    await session.refresh(payment)
    return await idem.respond(200, CohortPaymentRead.model_validate(payment), etag(payment.version))
