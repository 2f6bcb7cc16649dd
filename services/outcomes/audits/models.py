"""An audit and its sample: the population's size and value and the seed are fixed when it opens, so
the sample can be drawn again by anyone holding the seed and the population; each sampled claim keeps the
amount it was paid at opening (what an invalid finding claws back) and its finding."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.outcomes.db import Base

Money = Numeric(18, 3)


class PaymentAudit(Base):
    __tablename__ = "payment_audits"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_when_closed"),
        CheckConstraint("sample_size <= population_claims", name="sample_within_population"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_version_id: Mapped[uuid.UUID]  # whose `audits` rule applies
    payer_organisation_id: Mapped[uuid.UUID]
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    seed: Mapped[str] = mapped_column(String(64))
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    population_claims: Mapped[int] = mapped_column(Integer)
    population_value: Mapped[Decimal] = mapped_column(Money)
    sample_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'open'"))
    clawed_back: Mapped[Decimal | None] = mapped_column(Money)
    extrapolated: Mapped[Decimal | None] = mapped_column(Money)
    working: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class AuditClaim(Base):
    """A claim of an audit's population: `rank` is its place in the draw (SHA-256 of seed and claim id),
    `sampled` whether the draw took it; only sampled claims carry findings. A finding is `valid` or
    `invalid` (with a reason); the provider may dispute an invalid finding once, and the payer's next
    finding on it resolves the dispute (final)."""

    __tablename__ = "audit_claims"
    __table_args__ = (
        CheckConstraint("finding IS NULL OR finding IN ('valid', 'invalid')", name="finding"),
        CheckConstraint("finding IS NULL OR sampled", name="findings_on_the_sample"),
        CheckConstraint(
            "finding IS DISTINCT FROM 'invalid' OR reason IS NOT NULL", name="invalid_with_reason"
        ),
        CheckConstraint("amount > 0", name="paid"),
    )

    audit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_audits.id"), primary_key=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outcome_claims.id"), primary_key=True)
    partnership_id: Mapped[uuid.UUID]
    amount: Mapped[Decimal] = mapped_column(Money)  # what the payer paid for it in the audited period
    rank: Mapped[str] = mapped_column(String(64))
    sampled: Mapped[bool]
    finding: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    disputed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    resolved: Mapped[bool] = mapped_column(server_default=text("false"))
