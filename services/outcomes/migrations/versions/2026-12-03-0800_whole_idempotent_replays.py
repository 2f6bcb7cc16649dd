"""whole idempotent replays

A replay now answers the first response whole: its headers are stored beside its body (`headers`), and the
body is kept as JSON text, not JSONB, so it replays with the first response's key order (kit/idempotency.py).
The index on `created_at` lets the sweep delete expired keys by age.

Revision ID: c4d7a1e9f352
Revises: 5b1d7e3a9c20
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4d7a1e9f352"
down_revision: str | None = "5b1d7e3a9c20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "idempotency_keys",
        "response",
        type_=sa.JSON(),
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        postgresql_using="response::json",
    )
    op.add_column("idempotency_keys", sa.Column("headers", sa.JSON(), nullable=True))
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_column("idempotency_keys", "headers")
    op.alter_column(
        "idempotency_keys",
        "response",
        type_=postgresql.JSONB(astext_type=sa.Text()),
        existing_type=sa.JSON(),
        postgresql_using="response::jsonb",
    )
