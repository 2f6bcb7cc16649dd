"""memberships beside an organisation's superseded epoch

A nullable column without a default: PostgreSQL adds it without rewriting the table.

Revision ID: 7c1f0e9a4b21
Revises: 202e63a654e3
Create Date: 2026-11-27 12:15:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7c1f0e9a4b21"
down_revision: str | None = "202e63a654e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "superseded_tokens", sa.Column("memberships", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("superseded_tokens", "memberships")
