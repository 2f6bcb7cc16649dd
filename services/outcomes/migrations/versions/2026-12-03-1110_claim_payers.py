"""claim payers

Revision ID: 5e8c2b7d1f40
Revises: 9b1d4e7a2c53
Create Date: 2026-12-03 11:10:00.000000+00:00

Which organisations a claim is charged to, on the claim itself: what a payer that has no residents (an
outcome funder) may read is the claims it pays for (services/outcomes/access.py). Set at submission from
the terms, and from the payment lines once the claim is priced; existing priced claims get theirs from
their lines here (a pending claim submitted before this revision shows to a funder once it is priced).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5e8c2b7d1f40"
down_revision: str | None = "9b1d4e7a2c53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outcome_claims",
        sa.Column(
            "payer_organisation_ids",
            postgresql.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.execute(
        "UPDATE outcome_claims c SET payer_organisation_ids = ARRAY("
        "SELECT DISTINCT l.payer_organisation_id FROM payment_lines l WHERE l.claim_id = c.id "
        "ORDER BY l.payer_organisation_id)"
        " WHERE EXISTS (SELECT 1 FROM payment_lines l WHERE l.claim_id = c.id)"
    )
    op.create_index(
        "ix_outcome_claims_payer_organisation_ids",
        "outcome_claims",
        ["payer_organisation_ids"],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index("ix_outcome_claims_payer_organisation_ids", table_name="outcome_claims")
    op.drop_column("outcome_claims", "payer_organisation_ids")
