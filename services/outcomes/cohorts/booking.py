"""The statement hooks of cohort payments: booking each approved payment, once, as a `cohort` line on its
payer's statement (the one being drafted for a period ending on or after its approval), with a
`cohort_payment.booked` ledger event carrying its working; and the statement's cohort totals, which every
reader of the statement sees (aggregates, no claim or person)."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from services.outcomes.cohorts.models import CohortPayment
from services.outcomes.ledger.service import append_event
from services.outcomes.models import PaymentLine, PaymentStatement
from services.outcomes.pricing import money


async def book_cohort_payments(
    session: AsyncSession, principal: Principal, statement: PaymentStatement
) -> None:
    """Book the payer's approved, unbooked cohort payments of the statement's contract approved up to the
    period's end: each once (a line's cohort payment is unique), each with its ledger event."""
    unbooked = await session.scalars(
        select(CohortPayment)
        .where(
            CohortPayment.contract_id == statement.contract_id,
            CohortPayment.payer_organisation_id == statement.payer_organisation_id,
            CohortPayment.status == "approved",
            CohortPayment.decided_on <= statement.period_end,
            ~select(PaymentLine.id).where(PaymentLine.cohort_payment_id == CohortPayment.id).exists(),
        )
        .order_by(CohortPayment.decided_at, CohortPayment.id)
    )
    for payment in unbooked.all():
        booked = (
            await session.execute(
                insert(PaymentLine)
                .values(
                    contract_id=payment.contract_id,
                    payer_organisation_id=payment.payer_organisation_id,
                    cohort_payment_id=payment.id,
                    cohort_code=payment.cohort_outcome_code,
                    achievement_date=payment.decided_on,
                    priced_on=payment.decided_on,
                    currency=payment.currency,
                    tariff_share=payment.amount,
                    amount=payment.amount,
                )
                .on_conflict_do_nothing()
                .returning(PaymentLine.id)
            )
        ).scalar_one_or_none()
        if booked is None:
            continue  # a concurrent draft booked it
        await append_event(
            session,
            principal,
            statement.partnership_id,
            type="cohort_payment.booked",
            subject=f"payment-lines/{booked}",
            data={
                "payment_line_id": str(booked),
                "statement_id": str(statement.id),
                "cohort_payment_id": str(payment.id),
                "contract_id": str(payment.contract_id),
                "payer_organisation_id": str(payment.payer_organisation_id),
                "currency": payment.currency,
                "amount": money.text(payment.amount, payment.currency),
                "working": payment.working,
            },
        )


async def cohort_totals_of(
    session: AsyncSession, statement_ids: list[UUID]
) -> dict[UUID, list[dict[str, Any]]]:
    """Each statement's cohort payments, in the order they were approved."""
    rows = await session.execute(
        select(
            PaymentLine.statement_id,
            CohortPayment.id,
            CohortPayment.cohort_outcome_code,
            CohortPayment.cohort,
            CohortPayment.period_start,
            CohortPayment.period_end,
            PaymentLine.amount,
        )
        .join(CohortPayment, CohortPayment.id == PaymentLine.cohort_payment_id)
        .where(PaymentLine.statement_id.in_(statement_ids))
        .order_by(PaymentLine.statement_id, CohortPayment.decided_at, CohortPayment.id)
    )
    found: dict[UUID, list[dict[str, Any]]] = {}
    for statement_id, payment_id, code, cohort, start, end, amount in rows.all():
        found.setdefault(cast(UUID, statement_id), []).append(
            {
                "cohort_payment_id": payment_id,
                "cohort_outcome_code": code,
                "cohort": cohort,
                "period_start": start,
                "period_end": end,
                "amount": amount,
            }
        )
    return found
