"""add tranche lines

Revision ID: 5e2a9c71d4b8
Revises: 5e2a9c1d7b40
Create Date: 2026-12-03 12:00:00.000000+00:00

A payment line may be a tranche's (terms v2 `tranches`: a payment scheduled by date, not a claim's): no
claim and no outcome, its tranche code and due date instead. The uniqueness of a line's source widens to
take in the tranche payment, so each is booked once, however often its statement is refreshed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e2a9c71d4b8"
down_revision: str | None = "5e2a9c1d7b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIM_OR_TRANCHE = (
    "(claim_id IS NULL) = (tranche_code IS NOT NULL)"
    " AND (tranche_code IS NULL) = (tranche_due IS NULL)"
    " AND (tranche_code IS NULL) = (outcome_code IS NOT NULL)"
    " AND (kind IS NULL OR (kind = 'tranche') = (tranche_code IS NOT NULL))"
)


def upgrade() -> None:
    op.add_column("payment_lines", sa.Column("tranche_code", sa.String(length=100), nullable=True))
    op.add_column("payment_lines", sa.Column("tranche_due", sa.Date(), nullable=True))
    op.alter_column("payment_lines", "claim_id", existing_type=sa.Uuid(), nullable=True)
    op.alter_column("payment_lines", "outcome_code", existing_type=sa.String(length=100), nullable=True)
    op.drop_constraint(op.f("uq_payment_lines_claim_payer_repricing"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_source"),
        "payment_lines",
        [
            "claim_id",
            "payer_organisation_id",
            "repriced_by_version_id",
            "contract_id",
            "tranche_code",
            "tranche_due",
        ],
        postgresql_nulls_not_distinct=True,
    )
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"),
        "payment_lines",
        "kind IS NULL OR kind IN ('claim', 'adjustment', 'tranche')",
    )
    op.create_check_constraint(op.f("ck_payment_lines_claim_or_tranche"), "payment_lines", CLAIM_OR_TRANCHE)


def downgrade() -> None:
    op.execute("DELETE FROM payment_lines WHERE tranche_code IS NOT NULL")
    op.drop_constraint(op.f("ck_payment_lines_claim_or_tranche"), "payment_lines", type_="check")
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"), "payment_lines", "kind IS NULL OR kind IN ('claim', 'adjustment')"
    )
    op.drop_constraint(op.f("uq_payment_lines_source"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_claim_payer_repricing"),
        "payment_lines",
        ["claim_id", "payer_organisation_id", "repriced_by_version_id"],
        postgresql_nulls_not_distinct=True,
    )
    op.alter_column("payment_lines", "outcome_code", existing_type=sa.String(length=100), nullable=False)
    op.alter_column("payment_lines", "claim_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_column("payment_lines", "tranche_due")
    op.drop_column("payment_lines", "tranche_code")
