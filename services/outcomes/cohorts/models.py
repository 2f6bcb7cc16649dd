"""The cohort payments table: an evaluator's measured figures for one cohort and period of a cohort
outcome (terms v2 `cohort_outcomes`), the payment the engine computed from them with its working, and the
payer's decision. Aggregates only: no row names or describes a person."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Date, DateTime, Index, Integer, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.outcomes.db import Base


class CohortPayment(Base):
    """`submitted` by the evaluator, then `approved` or `rejected` by the cohort outcome's payer (never by
    the submitting organisation or user, never by an evaluator). An approved payment is booked, once, as a
    `cohort` line on the payer's statement of the period it was approved in (or the next draft one)."""

    __tablename__ = "cohort_payments"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'approved', 'rejected')", name="status"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("cohort_size >= 1 AND comparison_size >= 1", name="sizes"),
        CheckConstraint("(status = 'submitted') = (decided_at IS NULL)", name="decided_when_not_submitted"),
        # One live payment per cohort and period: a rejected one may be submitted again, corrected.
        Index(
            "uq_cohort_payments_live",
            "contract_id",
            "cohort_outcome_code",
            "cohort",
            "period_start",
            "period_end",
            unique=True,
            postgresql_where=text("status <> 'rejected'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_version_id: Mapped[uuid.UUID]
    cohort_outcome_code: Mapped[str] = mapped_column(String(100))
    cohort: Mapped[str] = mapped_column(String(100))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    payer_organisation_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(String(3))
    cohort_size: Mapped[int] = mapped_column(Integer)
    comparison_size: Mapped[int] = mapped_column(Integer)
    # What the engine needs to compute the payment again at approval: the figures as submitted and the
    # cohort outcome's formula as the version in force stated it.
    figures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    formula: Mapped[dict[str, Any]] = mapped_column(JSONB)
    working: Mapped[dict[str, Any]] = mapped_column(JSONB)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 3))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'submitted'"))
    submitted_by_organisation_id: Mapped[uuid.UUID]
    submitted_by: Mapped[str] = mapped_column(String(200))  # the token's subject: a user or a client
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_by_organisation_id: Mapped[uuid.UUID | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_on: Mapped[date | None] = mapped_column(Date)  # the statement period it falls in
    reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
