"""Booking a temporary variation's scenario payments (terms v2 `variations`) on a payer's statement: each
month's payment once, as a `variation` line, with a `variation.booked` ledger event giving its working.
The claims the variation suspends are priced at zero by the engine (pricing/variations.py); these lines
are what the payer pays instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Unprocessable
from services.outcomes.clients.contracts import ContractVersion
from services.outcomes.ledger.service import append_event
from services.outcomes.models import PaymentLine, PaymentStatement
from services.outcomes.pricing import variations as variations_


async def book_variations(
    session: AsyncSession,
    principal: Principal,
    statement: PaymentStatement,
    version: ContractVersion,
    bookable: Callable[[date], bool],
) -> None:
    """Book the payer's scenario payments due up to the statement's end under `version` that `bookable`
    admits (those due in its period, and those an issued statement missed): each once (the line's source
    is unique), each recorded in the ledger with its working."""
    terms = version.terms
    try:
        due = variations_.due(
            [v.engine() for v in terms.variations],
            statement.payer_organisation_id,
            date.min,
            statement.period_end,
            terms.currency,
        )
    except ValueError as exc:  # the registry validated the terms; an inexact amount is not ours to round
        raise Unprocessable(f"the contract's scenario payments cannot be paid exactly: {exc}") from None
    for payment in due:
        if not bookable(payment.due_date):
            continue
        booked = (
            await session.execute(
                insert(PaymentLine)
                .values(
                    contract_id=statement.contract_id,
                    payer_organisation_id=payment.payer,
                    variation_code=payment.code,
                    variation_due=payment.due_date,
                    achievement_date=payment.due_date,
                    priced_on=payment.due_date,
                    currency=terms.currency,
                    tariff_share=payment.amount,
                    amount=payment.amount,
                )
                .on_conflict_do_nothing()
                .returning(PaymentLine.id)
            )
        ).scalar_one_or_none()
        if booked is None:
            continue  # booked by an earlier refresh
        await append_event(
            session,
            principal,
            statement.partnership_id,
            type="variation.booked",
            subject=f"payment-lines/{booked}",
            data={
                "payment_line_id": str(booked),
                "contract_id": str(statement.contract_id),
                "contract_version_id": str(version.id),
                "payer_organisation_id": str(payment.payer),
                "currency": terms.currency,
                "late": payment.due_date < statement.period_start,
                "working": variations_.working(payment, terms.currency),
            },
        )
