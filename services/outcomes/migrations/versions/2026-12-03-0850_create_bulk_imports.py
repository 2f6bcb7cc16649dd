"""create bulk imports

Revision ID: 9b1d4e7a2c53
Revises: c4d7a1e9f352
Create Date: 2026-12-03 08:50:00.000000+00:00

Each bulk upload's progress (lines done, and the total once the body has been read), pollable while it
runs, and every line's result, committed with the line's work, so a client can fetch them again later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b1d4e7a2c53"
down_revision: str | None = "c4d7a1e9f352"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("lines_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lines_total", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_imports")),
    )
    op.create_index(op.f("ix_bulk_imports_organisation_id"), "bulk_imports", ["organisation_id"])
    op.create_table(
        "bulk_import_lines",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "line", name=op.f("pk_bulk_import_lines")),
    )


def downgrade() -> None:
    op.drop_table("bulk_import_lines")
    op.drop_index(op.f("ix_bulk_imports_organisation_id"), table_name="bulk_imports")
    op.drop_table("bulk_imports")
