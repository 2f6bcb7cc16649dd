"""add pricing mechanisms

Revision ID: 5b1d7e3a9c20
Revises: 3f8a2c6d9e14
Create Date: 2026-12-03 07:45:00.000000+00:00

Terms schema version 2 (issue 14): amounts at NUMERIC(18, 3), so three-decimal currencies fit; a
participant's segment, a claim's facts and the band and volume tier
pricing chose, and a count on each cap counter. The outcome and payer counters are new: they are filled
from what was already verified and paid, so tiers and per-payer maxima count what came before too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b1d7e3a9c20"
down_revision: str | None = "3f8a2c6d9e14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MONEY = {
    "outcome_claims": ("tariff", "payable", "cut"),
    "cap_counters": ("paid", "cap"),
    "payment_statements": ("total", "total_tariff", "total_cut"),
    "payment_lines": ("tariff_share", "amount"),
}


def upgrade() -> None:
    # Three decimals for BHD, KWD, OMR …; 15 digits before the point, the registry's bound on any amount.
    for table, columns in MONEY.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Numeric(18, 3), existing_type=sa.Numeric(14, 2))
    op.add_column("participants", sa.Column("segment", sa.String(length=100), nullable=True))
    op.add_column(
        "payment_statements",
        sa.Column("basis", sa.String(length=20), server_default=sa.text("'verification'"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_payment_statements_basis"), "payment_statements", "basis IN ('verification', 'achievement')"
    )
    op.add_column("payment_lines", sa.Column("repriced_by_version_id", sa.Uuid(), nullable=True))
    op.drop_constraint(
        op.f("uq_payment_lines_claim_id_payer_organisation_id"), "payment_lines", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_payment_lines_claim_payer_repricing"),
        "payment_lines",
        ["claim_id", "payer_organisation_id", "repriced_by_version_id"],
        postgresql_nulls_not_distinct=True,
    )
    op.drop_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_amount_range"),
        "payment_lines",
        "repriced_by_version_id IS NOT NULL OR (amount >= 0 AND amount <= tariff_share)",
    )
    op.add_column(
        "outcome_claims", sa.Column("facts", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column("outcome_claims", sa.Column("band", sa.String(length=100), nullable=True))
    op.add_column("outcome_claims", sa.Column("tier", sa.SmallInteger(), nullable=True))
    op.add_column("outcome_claims", sa.Column("tier_count", sa.Integer(), nullable=True))
    op.add_column(
        "cap_counters", sa.Column("count", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
    )
    op.alter_column("cap_counters", "key", type_=sa.String(length=100), existing_nullable=False)
    op.execute(
        """
        INSERT INTO cap_counters (contract_id, scope, key, paid, count, currency)
        SELECT contract_id, 'outcome', outcome_code, sum(payable), count(*), min(currency)
        FROM outcome_claims WHERE status = 'verified' AND currency IS NOT NULL
        GROUP BY contract_id, outcome_code
        """
    )
    op.execute(
        """
        INSERT INTO cap_counters (contract_id, scope, key, paid, count, currency)
        SELECT contract_id, 'payer', payer_organisation_id::text, sum(amount), count(*), min(currency)
        FROM payment_lines GROUP BY contract_id, payer_organisation_id
        """
    )


def downgrade() -> None:
    for table, columns in MONEY.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Numeric(14, 2), existing_type=sa.Numeric(18, 3))
    op.execute("DELETE FROM cap_counters WHERE scope IN ('outcome', 'payer')")
    op.alter_column("cap_counters", "key", type_=sa.String(length=64), existing_nullable=False)
    op.drop_column("cap_counters", "count")
    op.drop_column("outcome_claims", "tier_count")
    op.drop_column("outcome_claims", "tier")
    op.drop_column("outcome_claims", "band")
    op.drop_column("outcome_claims", "facts")
    op.execute("DELETE FROM payment_lines WHERE repriced_by_version_id IS NOT NULL")
    op.drop_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_amount_range"), "payment_lines", "amount >= 0 AND amount <= tariff_share"
    )
    op.drop_constraint(op.f("uq_payment_lines_claim_payer_repricing"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_claim_id_payer_organisation_id"),
        "payment_lines",
        ["claim_id", "payer_organisation_id"],
    )
    op.drop_column("payment_lines", "repriced_by_version_id")
    op.drop_constraint(op.f("ck_payment_statements_basis"), "payment_statements", type_="check")
    op.drop_column("payment_statements", "basis")
    op.drop_column("participants", "segment")
