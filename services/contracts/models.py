"""The contracts service's tables: contracts, their versions, signatures, termination consents,
attachments, and the change log other services follow (`contract_events`).

Partnerships, organisations and users are identity's: referenced by id, never by foreign key.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.idempotency import idempotency_table
from services.contracts.db import Base

idempotency_keys = idempotency_table(Base.metadata)

VERSION_STATUSES = ("draft", "proposed", "active", "superseded", "terminated", "expired", "withdrawn")
# Statuses of a version that once governed: the in-force query reads only these.
EVER_ACTIVE = ("active", "superseded", "terminated", "expired")
OPEN = ("draft", "proposed")


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    partnership_id: Mapped[UUID] = mapped_column(index=True)
    created_by_organisation_id: Mapped[UUID]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContractVersion(Base):
    """One version of a contract's terms. `row_version` guards draft edits (ETag / If-Match); terms are
    frozen from proposal on, which a trigger in the migration also enforces."""

    __tablename__ = "contract_versions"
    __table_args__ = (
        UniqueConstraint("contract_id", "number"),
        CheckConstraint(f"status IN {VERSION_STATUSES!r}", name="status"),
        CheckConstraint("status = 'draft' OR content_hash IS NOT NULL", name="frozen_has_hash"),
        CheckConstraint("end_date >= start_date", name="period"),
        # At most one open (draft or proposed) and one active version per contract.
        Index(
            "uq_contract_versions_one_open",
            "contract_id",
            unique=True,
            postgresql_where=text("status IN ('draft', 'proposed')"),
        ),
        Index(
            "uq_contract_versions_one_active",
            "contract_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    contract_id: Mapped[UUID] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), server_default="draft")
    terms: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # Denormalised from `terms` for the in-force and overlap queries.
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    derived_from_id: Mapped[UUID | None] = mapped_column(ForeignKey("contract_versions.id"))
    # Fixed on proposal, frozen with the terms: the version that was active then, which this one will
    # supersede, and every organisation whose signature activates it (its own signing parties and the
    # superseded version's, so no signed version is replaced without its signatories).
    supersedes_id: Mapped[UUID | None] = mapped_column(ForeignKey("contract_versions.id"))
    signatories: Mapped[list[UUID] | None] = mapped_column(ARRAY(Uuid))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    proposed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first day a terminated version no longer governs.
    terminated_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(2000))
    # Why an amendment was made (OCDS `amendments[].rationale`), given when it is started.
    rationale: Mapped[str | None] = mapped_column(String(2000))
    row_version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": row_version}


class Signature(Base):
    """A signatory's signature: who, for which organisation, when, and the content hash they signed."""

    __tablename__ = "signatures"
    __table_args__ = (UniqueConstraint("version_id", "organisation_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    version_id: Mapped[UUID] = mapped_column(ForeignKey("contract_versions.id", ondelete="CASCADE"))
    organisation_id: Mapped[UUID]
    user_id: Mapped[UUID]
    content_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TerminationConsent(Base):
    """A signing party's consent to end an active version from a date, recorded like a signature (never
    rewritten). `unilateral` when the terms let that party end it alone."""

    __tablename__ = "termination_consents"
    __table_args__ = (UniqueConstraint("version_id", "organisation_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    version_id: Mapped[UUID] = mapped_column(ForeignKey("contract_versions.id", ondelete="CASCADE"))
    organisation_id: Mapped[UUID]
    user_id: Mapped[UUID]
    effective_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(2000))
    unilateral: Mapped[bool]
    consented_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContractEvent(Base):
    """A change other services must learn of (a version activated, terminated, expired), in commit order:
    `sequence` is taken under a lock held until commit, so a reader that has seen N has seen all below N."""

    __tablename__ = "contract_events"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[UUID] = mapped_column(default=uuid4, unique=True)
    type: Mapped[str] = mapped_column(String(100))
    partnership_id: Mapped[UUID]
    # Both null for a partnership-wide event (`disclosure.withdrawn`).
    contract_id: Mapped[UUID | None]
    version_id: Mapped[UUID | None]
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Attachment(Base):
    """A file attached to a draft (the legal text, annexes); bytes live in PostgreSQL with their SHA-256."""

    __tablename__ = "attachments"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    version_id: Mapped[UUID] = mapped_column(
        ForeignKey("contract_versions.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_by_organisation_id: Mapped[UUID]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
