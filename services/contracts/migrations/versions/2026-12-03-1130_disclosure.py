"""disclosure statuses, their audit, publications; amendment rationale; partnership-wide events

Open data (docs/open-data.md): a partnership's disclosure policy and the status its outcome payers chose
per block, every change audited, and the last publication the public read renders from. An amendment
now records its rationale (OCDS `amendments[].rationale`). The change log carries partnership-wide events
(`disclosure.withdrawn`), which name no contract or version.

Revision ID: 5d2a9c41e8b7
Revises: b91f3e7a5c24
Create Date: 2026-12-03 11:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5d2a9c41e8b7"
down_revision: str | None = "b91f3e7a5c24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disclosure_policies",
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("small_cell_threshold", sa.Integer(), server_default="5", nullable=False),
        sa.Column("row_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "small_cell_threshold BETWEEN 3 AND 1000", name=op.f("ck_disclosure_policies_threshold")
        ),
        sa.PrimaryKeyConstraint("partnership_id", name=op.f("pk_disclosure_policies")),
    )
    op.create_table(
        "disclosure_statuses",
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("block", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("set_by_organisation_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('public', 'private', 'partnership', 'disputed')",
            name=op.f("ck_disclosure_statuses_status"),
        ),
        sa.PrimaryKeyConstraint("partnership_id", "block", name=op.f("pk_disclosure_statuses")),
    )
    op.create_table(
        "disclosure_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("block", sa.String(length=64), nullable=False),
        sa.Column("before", sa.String(length=20), nullable=False),
        sa.Column("after", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("actor", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_changes")),
    )
    op.create_index(
        op.f("ix_disclosure_changes_partnership_id"), "disclosure_changes", ["partnership_id"], unique=False
    )
    # The audit, like signatures and the change log, is never rewritten.
    op.execute(
        "CREATE TRIGGER trg_disclosure_changes_immutable BEFORE UPDATE ON disclosure_changes "
        "FOR EACH ROW EXECUTE FUNCTION signatures_immutable()"
    )
    op.create_table(
        "publications",
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("organisations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("results", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("published_by", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("partnership_id", name=op.f("pk_publications")),
    )
    op.add_column("contract_versions", sa.Column("rationale", sa.String(length=2000), nullable=True))
    op.alter_column("contract_events", "contract_id", existing_type=sa.Uuid(), nullable=True)
    op.alter_column("contract_events", "version_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM contract_events WHERE contract_id IS NULL OR version_id IS NULL")
    op.alter_column("contract_events", "version_id", existing_type=sa.Uuid(), nullable=False)
    op.alter_column("contract_events", "contract_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_column("contract_versions", "rationale")
    op.drop_table("publications")
    op.execute("DROP TRIGGER trg_disclosure_changes_immutable ON disclosure_changes")
    op.drop_index(op.f("ix_disclosure_changes_partnership_id"), table_name="disclosure_changes")
    op.drop_table("disclosure_changes")
    op.drop_table("disclosure_statuses")
    op.drop_table("disclosure_policies")
