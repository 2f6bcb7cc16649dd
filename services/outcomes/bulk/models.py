"""The bulk import's idempotency table: one row per organisation and external reference."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from services.outcomes.db import Base


class BulkReference(Base):
    """A line's external reference, claimed in the savepoint of its work; `fingerprint` is an HMAC of the
    line under the service secret (lines can hold CPR numbers), so a reused reference is recognised."""

    __tablename__ = "bulk_references"

    organisation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    external_reference: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
