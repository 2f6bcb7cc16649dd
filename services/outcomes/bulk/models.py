"""The bulk import's tables: idempotency (one row per organisation and external reference), and each
upload's progress and per-line results."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, func, text
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


class BulkImport(Base):
    """One upload: its progress while it runs, for a client to poll, and whose results these are.
    `lines_total` is set once the whole body has been read; until then only `lines_done` is known."""

    __tablename__ = "bulk_imports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(index=True)
    partnership_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10))  # running | done
    lines_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lines_total: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BulkImportLine(Base):
    """A line's result as it was streamed, committed with the line's work, so it can be fetched again."""

    __tablename__ = "bulk_import_lines"

    import_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    result: Mapped[str] = mapped_column(Text)  # the NDJSON line as sent, byte for byte
