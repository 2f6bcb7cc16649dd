"""add variation lines

Revision ID: 7c4f1a9e2b60
Revises: b45c805cd87d
Create Date: 2026-12-03 14:00:00.000000+00:00

A payment line may be a temporary variation's scenario payment (terms v2 `variations`: a fixed monthly sum
paid instead of outcome prices): no claim and no outcome, its variation code and due date (the month's
last day) instead, kind `variation`. The uniqueness of a line's source widens to take in the variation
payment (else two months of one payer's scenario payments would be the same source), so each is booked
once per payer and month.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4f1a9e2b60"
down_revision: str | None = "b45c805cd87d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = [
    "claim_id",
    "payer_organisation_id",
    "repriced_by_version_id",
    "contract_id",
    "tranche_code",
    "tranche_due",
]
CLAIM_OR_TRANCHE = (
    "(claim_id IS NULL) = (tranche_code IS NOT NULL)"
    " AND (tranche_code IS NULL) = (tranche_due IS NULL)"
    " AND (tranche_code IS NULL) = (outcome_code IS NOT NULL)"
    " AND (kind IS NULL OR (kind = 'tranche') = (tranche_code IS NOT NULL))"
)
ONE_SOURCE = (
    "num_nonnulls(claim_id, tranche_code, variation_code) = 1"
    " AND (claim_id IS NULL) = (outcome_code IS NULL)"
    " AND (tranche_code IS NULL) = (tranche_due IS NULL)"
    " AND (variation_code IS NULL) = (variation_due IS NULL)"
    " AND (kind IS NULL OR ((kind = 'tranche') = (tranche_code IS NOT NULL)"
    " AND (kind = 'variation') = (variation_code IS NOT NULL)))"
)


def upgrade() -> None:
    op.add_column("payment_lines", sa.Column("variation_code", sa.String(length=100), nullable=True))
    op.add_column("payment_lines", sa.Column("variation_due", sa.Date(), nullable=True))
    op.drop_constraint(op.f("ck_payment_lines_claim_or_tranche"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_one_source"), "payment_lines", ONE_SOURCE)
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"),
        "payment_lines",
        "kind IS NULL OR kind IN ('claim', 'adjustment', 'tranche', 'variation')",
    )
    op.drop_constraint(op.f("uq_payment_lines_source"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_source"),
        "payment_lines",
        [*SOURCE, "variation_code", "variation_due"],
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.execute("DELETE FROM payment_lines WHERE variation_code IS NOT NULL")
    op.drop_constraint(op.f("uq_payment_lines_source"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_source"), "payment_lines", SOURCE, postgresql_nulls_not_distinct=True
    )
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"),
        "payment_lines",
        "kind IS NULL OR kind IN ('claim', 'adjustment', 'tranche')",
    )
    op.drop_constraint(op.f("ck_payment_lines_one_source"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_claim_or_tranche"), "payment_lines", CLAIM_OR_TRANCHE)
    op.drop_column("payment_lines", "variation_due")
    op.drop_column("payment_lines", "variation_code")
