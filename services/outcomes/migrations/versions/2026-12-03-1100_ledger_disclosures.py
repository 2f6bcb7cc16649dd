"""ledger record format 2: disclosures and erasures

Revision ID: 5e2a9c1d7b40
Revises: 5e8c2b7d1f40
Create Date: 2026-12-03 11:00:00.000000+00:00

Events chained from now on are format 2 (chain.py): person-level and free-text values are salted
commitments in the hashed record, their values and salts in the erasable `ledger_disclosures`. Events
already chained stay format 1 (`record_format` defaults to 1 for them) and verify as they always did;
nothing stored is rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5e2a9c1d7b40"
down_revision: str | None = "5e8c2b7d1f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ledger_events",
        sa.Column("record_format", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
    )
    op.create_table(
        "ledger_disclosures",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("path", sa.String(length=100), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=True),
        sa.Column("salt", sa.String(length=64), nullable=True),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("erasure_id", sa.Uuid(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["ledger_events.id"], name=op.f("fk_ledger_disclosures_event_id_ledger_events")
        ),
        sa.PrimaryKeyConstraint("event_id", "path", name=op.f("pk_ledger_disclosures")),
    )
    op.create_index(op.f("ix_ledger_disclosures_participant_id"), "ledger_disclosures", ["participant_id"])
    op.create_table(
        "erasures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("path", sa.String(length=100), nullable=True),
        sa.Column("values_erased", sa.Integer(), nullable=False),
        sa.Column("documents_erased", sa.Integer(), nullable=False),
        sa.Column("municipal_reference_erased", sa.Boolean(), nullable=False),
        sa.Column("requested_by_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('ledger_value', 'participant')", name=op.f("ck_erasures_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_index(op.f("ix_erasures_partnership_id"), "erasures", ["partnership_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_erasures_partnership_id"), table_name="erasures")
    op.drop_table("erasures")
    op.drop_index(op.f("ix_ledger_disclosures_participant_id"), table_name="ledger_disclosures")
    op.drop_table("ledger_disclosures")
    op.drop_column("ledger_events", "record_format")
