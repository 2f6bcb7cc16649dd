"""Disclosure tables: a partnership's policy (small-cell threshold, the ETag's row version), the status
the payers chose per block, the audit of every change (never rewritten), and the last publication (the
organisations and suppressed results the public read renders from)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import CheckConstraint, DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.contracts.db import Base

STATUSES = ("public", "private", "partnership", "disputed")


class DisclosurePolicy(Base):
    __tablename__ = "disclosure_policies"
    __table_args__ = (CheckConstraint("small_cell_threshold BETWEEN 3 AND 1000", name="threshold"),)

    partnership_id: Mapped[UUID] = mapped_column(primary_key=True)
    small_cell_threshold: Mapped[int] = mapped_column(Integer, server_default="5")
    row_version: Mapped[int] = mapped_column(Integer, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __mapper_args__ = {"version_id_col": row_version}


class DisclosureStatus(Base):
    """The status the outcome payers chose for one block; blocks without a row follow the terms."""

    __tablename__ = "disclosure_statuses"
    __table_args__ = (CheckConstraint(f"status IN {STATUSES!r}", name="status"),)

    partnership_id: Mapped[UUID] = mapped_column(primary_key=True)
    block: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    set_by_organisation_id: Mapped[UUID]


class DisclosureChange(Base):
    """One audited change: a block's status, or the threshold (`block` = `small_cell_threshold`)."""

    __tablename__ = "disclosure_changes"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    partnership_id: Mapped[UUID] = mapped_column(index=True)
    block: Mapped[str] = mapped_column(String(64))
    before: Mapped[str] = mapped_column(String(20))
    after: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(2000))
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Publication(Base):
    """What the public read renders besides the registry: the parties' names and identifiers and the
    results, suppressed under the small-cell rule before they were stored, as last published."""

    __tablename__ = "publications"

    partnership_id: Mapped[UUID] = mapped_column(primary_key=True)
    organisations: Mapped[dict[str, Any]] = mapped_column(JSONB)
    results: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_by: Mapped[dict[str, Any]] = mapped_column(JSONB)
