"""create contract event cursors

Revision ID: 3f8a2c6d9e14
Revises: 7c3e9b1f42d0
Create Date: 2026-12-02 20:45:00.000000+00:00

How far the registry's change log (activations, terminations, expiries) has been recorded in the
partnerships' ledgers: a single row, locked while a page is appended (services/outcomes/contract_events.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f8a2c6d9e14"
down_revision: str | None = "7c3e9b1f42d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contract_event_cursors",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_contract_event_cursors_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_event_cursors")),
    )
    op.execute("INSERT INTO contract_event_cursors (id, last_sequence) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("contract_event_cursors")
