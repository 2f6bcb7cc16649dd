"""Cohort payments: submission of measured figures, reads, and the payer's decision.

    submitted --approve--> approved   (booked on the payer's next statement: booking.py)
        \\------reject----> rejected   (the cohort and period may then be submitted again)

The payment is computed at submission (what the payer is asked to approve) and computed again, from the
same stored figures and formula, at approval, under a lock per contract and cohort outcome: what earlier
approvals paid bounds it by the cap, so concurrent approvals never pay past it together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Unprocessable
from kit.versions import check_version
from services.outcomes import access, errors
from services.outcomes.clients.contracts import CohortOutcome, ContractVersion
from services.outcomes.cohorts import errors as cohort_errors
from services.outcomes.cohorts.models import CohortPayment
from services.outcomes.cohorts.schemas import CohortPaymentCreate
from services.outcomes.collaborators import Deps, today
from services.outcomes.ledger.service import append_event
from services.outcomes.pricing import cohorts as engine
from services.outcomes.pricing import money


async def _version(deps: Deps, body: CohortPaymentCreate) -> ContractVersion:
    try:
        return await deps.contracts.version_in_force(body.contract_id, body.period_end, token=deps.token)
    except errors.NoVersionInForce:
        return await deps.contracts.version_in_force(body.contract_id, body.period_start, token=deps.token)


def _formula_document(outcome: CohortOutcome) -> dict[str, Any]:
    return {
        "code": outcome.code,
        "payer_organisation_id": str(outcome.payer_organisation_id),
        "comparison": outcome.comparison,
        "measures": [{"code": m.code, "better": m.better} for m in outcome.measures],
        "share_percent": str(outcome.share_percent),
        "cap": str(outcome.cap),
        "may_be_negative": outcome.may_be_negative,
    }


def _formula(document: dict[str, Any]) -> engine.Formula:
    return engine.Formula(
        document["code"],
        UUID(document["payer_organisation_id"]),
        tuple(engine.Measure(m["code"], engine.Better(m["better"])) for m in document["measures"]),
        Decimal(document["share_percent"]),
        Decimal(document["cap"]),
        bool(document["may_be_negative"]),
    )


def _figures(payment: CohortPayment) -> list[engine.Figure]:
    return [engine.Figure(f["code"], Decimal(f["cohort"]), Decimal(f["comparison"])) for f in payment.figures]


async def _lock(session: AsyncSession, contract_id: UUID, code: str) -> None:
    # One writer at a time per contract and cohort outcome: its payments share one cap.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"cohort:{contract_id}:{code}"},
    )


async def _paid_before(session: AsyncSession, contract_id: UUID, code: str) -> Decimal:
    """What the cohort outcome's approved payments came to."""
    paid = await session.scalar(
        select(func.coalesce(func.sum(CohortPayment.amount), 0)).where(
            CohortPayment.contract_id == contract_id,
            CohortPayment.cohort_outcome_code == code,
            CohortPayment.status == "approved",
        )
    )
    return Decimal(paid or 0)


def _working(
    formula: engine.Formula,
    figures: list[engine.Figure],
    size: int,
    paid: Decimal,
    currency: str,
    comparison: str,
) -> tuple[engine.Payment, dict[str, Any]]:
    payment = engine.compute(formula, figures, size, paid, currency)
    return payment, {"comparison": comparison} | engine.working(formula, payment, currency)


def _event(payment: CohortPayment) -> dict[str, Any]:
    return {
        "cohort_payment_id": str(payment.id),
        "contract_id": str(payment.contract_id),
        "contract_version_id": str(payment.contract_version_id),
        "cohort_outcome_code": payment.cohort_outcome_code,
        "cohort": payment.cohort,
        "period_start": payment.period_start.isoformat(),
        "period_end": payment.period_end.isoformat(),
        "payer_organisation_id": str(payment.payer_organisation_id),
        "currency": payment.currency,
        "amount": money.text(payment.amount, payment.currency),
        "working": payment.working,
    }


async def submit_cohort_payment(
    session: AsyncSession, principal: Principal, body: CohortPaymentCreate, deps: Deps
) -> CohortPayment:
    """Record an evaluator's figures for one cohort and period and compute the payment they earn."""
    version = await _version(deps, body)
    if not access.may_submit_cohort_figures(principal, version.partnership_id):
        raise errors.NotAPartner("only the partnership's evaluator submits cohort figures")
    terms = version.terms
    outcome = next((c for c in terms.cohort_outcomes if c.code == body.cohort_outcome_code), None)
    if outcome is None:
        declared = [c.code for c in terms.cohort_outcomes]
        raise cohort_errors.UnknownCohortOutcome.field(
            "body.cohort_outcome_code", f"the version in force declares the cohort outcomes {declared}"
        )
    if body.period_end < body.period_start:
        raise Unprocessable.field("body.period_end", "must not be before period_start")
    horizon = outcome.horizon
    for name, day in (("period_start", body.period_start), ("period_end", body.period_end)):
        if not horizon.start <= day <= horizon.end:
            raise Unprocessable.field(
                f"body.{name}",
                f"must fall within the cohort outcome's horizon ({horizon.start} to {horizon.end})",
            )
    if body.cohort_size > outcome.max_cohort_size:
        raise Unprocessable.field("body.cohort_size", f"the terms allow at most {outcome.max_cohort_size}")
    declared = [m.code for m in outcome.measures]
    given = [f.code for f in body.figures]
    for i, code in enumerate(given):
        if code not in declared or given.index(code) != i:
            raise Unprocessable.field(f"body.figures.{i}.code", f"name each of the measures {declared} once")
    if missing := [c for c in declared if c not in given]:
        raise Unprocessable.field("body.figures", f"figures missing for {missing}")
    if body.comparison_size < 1:
        raise Unprocessable.field("body.comparison_size", "a comparison group has at least one person")

    await _lock(session, body.contract_id, outcome.code)
    live = await session.scalar(
        select(CohortPayment.id).where(
            CohortPayment.contract_id == body.contract_id,
            CohortPayment.cohort_outcome_code == outcome.code,
            CohortPayment.cohort == body.cohort,
            CohortPayment.period_start == body.period_start,
            CohortPayment.period_end == body.period_end,
            CohortPayment.status != "rejected",
        )
    )
    if live is not None:
        raise cohort_errors.CohortPaymentExists(f"cohort payment {live} holds these figures")
    formula = _formula_document(outcome)
    figures = [
        {"code": f.code, "cohort": str(f.cohort), "comparison": str(f.comparison)} for f in body.figures
    ]
    row = CohortPayment(
        partnership_id=version.partnership_id,
        contract_id=body.contract_id,
        contract_version_id=version.id,
        cohort_outcome_code=outcome.code,
        cohort=body.cohort,
        period_start=body.period_start,
        period_end=body.period_end,
        payer_organisation_id=outcome.payer_organisation_id,
        currency=terms.currency,
        cohort_size=body.cohort_size,
        comparison_size=body.comparison_size,
        figures=figures,
        formula=formula,
        submitted_by_organisation_id=principal.organisation_id,
        submitted_by=principal.subject,
    )
    paid = await _paid_before(session, body.contract_id, outcome.code)
    payment, row.working = _working(
        _formula(formula), _figures(row), body.cohort_size, paid, terms.currency, outcome.comparison
    )
    row.working["inputs"]["comparison_size"] = body.comparison_size
    row.amount = payment.amount
    session.add(row)
    await session.flush()
    await append_event(
        session,
        principal,
        row.partnership_id,
        type="cohort_payment.submitted",
        subject=f"cohort-payments/{row.id}",
        data=_event(row),
    )
    return row


async def get_cohort_payment(
    session: AsyncSession, principal: Principal, payment_id: UUID, *, for_update: bool = False
) -> CohortPayment:
    query = access.readable_cohort_payments(principal).where(CohortPayment.id == payment_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    payment = (await session.execute(query)).scalar_one_or_none()
    if payment is None:
        raise cohort_errors.CohortPaymentNotFound()
    return payment


async def list_cohort_payments(
    session: AsyncSession,
    principal: Principal,
    *,
    contract_id: UUID | None,
    ids: list[UUID] | None,
    after: UUID | None,
    limit: int,
) -> list[CohortPayment]:
    query = access.readable_cohort_payments(principal)
    if contract_id is not None:
        query = query.where(CohortPayment.contract_id == contract_id)
    if ids is not None:
        query = query.where(CohortPayment.id.in_(ids))
    if after is not None:
        query = query.where(CohortPayment.id > after)
    return list((await session.execute(query.order_by(CohortPayment.id).limit(limit))).scalars())


async def decide_cohort_payment(
    session: AsyncSession,
    principal: Principal,
    payment_id: UUID,
    *,
    decision: str,
    reason: str | None,
    expected_version: int | None,
) -> CohortPayment:
    """The payer approves (the payment computed again against what was paid before) or rejects."""
    payment = await get_cohort_payment(session, principal, payment_id)
    if refusal := access.cohort_approval_refusal(principal, payment):
        raise cohort_errors.NotAllowedToDecide(refusal)
    await _lock(session, payment.contract_id, payment.cohort_outcome_code)
    payment = await get_cohort_payment(session, principal, payment_id, for_update=True)
    check_version(payment.version, expected_version)
    if payment.status != "submitted":
        raise cohort_errors.CohortPaymentDecided(f"the cohort payment is {payment.status}")
    if decision == "approved":
        paid = await _paid_before(session, payment.contract_id, payment.cohort_outcome_code)
        computed, working = _working(
            _formula(payment.formula),
            _figures(payment),
            payment.cohort_size,
            paid,
            payment.currency,
            payment.working["comparison"],
        )
        working["inputs"]["comparison_size"] = payment.comparison_size
        payment.working, payment.amount = working, computed.amount
    payment.status = decision
    payment.reason = reason
    payment.decided_by_organisation_id = principal.organisation_id
    payment.decided_by = principal.subject
    payment.decided_at = datetime.now(UTC)
    payment.decided_on = today()
    payment.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        payment.partnership_id,
        type=f"cohort_payment.{decision}",
        subject=f"cohort-payments/{payment.id}",
        data=_event(payment) | {"decided_on": payment.decided_on.isoformat(), "reason": reason},
    )
    return payment
