"""whole idempotent replays

A replay now answers the first response whole: its headers are stored beside its body (`headers`), and the
body is kept as JSON text, not JSONB, so it replays with the first response's key order (kit/idempotency.py).

Revision ID: a8e2d4c61b37
Revises: 3b8d5e1c7a90
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a8e2d4c61b37"
down_revision: str | None = "3b8d5e1c7a90"
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


def downgrade() -> None:
    op.drop_column("idempotency_keys", "headers")
    op.alter_column(
        "idempotency_keys",
        "response",
        type_=postgresql.JSONB(astext_type=sa.Text()),
        existing_type=sa.JSON(),
        postgresql_using="response::jsonb",
    )
