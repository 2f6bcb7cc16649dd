"""add cohort payments

Revision ID: 7d3f1c9a2e65
Revises: a7d3c9e51b02
Create Date: 2026-12-03 14:20:00.000000+00:00

A cohort payment (terms v2 `cohort_outcomes`): the evaluator's measured figures for one cohort and period,
the payment computed from them with its working, and the payer's decision. Once approved it is booked as a
`cohort` payment line: a line's source is now one of a claim, a tranche payment, a variation's scenario
payment, an audit's extrapolation or a cohort payment, and a
cohort line may be negative where its terms let a loss be repaid.

The new table holds a partnership's data, so it gets the same row-level policy as the others
(2026-12-03-1130_row_level_security.py); a cohort line is admitted like a tranche's, by its contract's
statements (it is booked when one is drafted).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7d3f1c9a2e65"
down_revision: str | None = "a7d3c9e51b02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SETTING = "current_setting('effekt.partnerships', true)"
_NAMED = f"({_SETTING} = '*' OR partnership_id = ANY (string_to_array(nullif({_SETTING}, '*'), ',')::uuid[]))"

# As the post-payment audits' migration left them.
PREVIOUS_LINE_SOURCE = (
    "num_nonnulls(claim_id, tranche_code, variation_code)"
    " + (CASE WHEN claim_id IS NULL AND audit_id IS NOT NULL THEN 1 ELSE 0 END) = 1"
    " AND (claim_id IS NULL) = (outcome_code IS NULL)"
    " AND (tranche_code IS NULL) = (tranche_due IS NULL)"
    " AND (variation_code IS NULL) = (variation_due IS NULL)"
    " AND (kind IS NULL OR (kind = 'tranche') = (tranche_code IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'variation') = (variation_code IS NOT NULL))"
    " AND (kind IS NULL OR (kind IN ('clawback', 'extrapolated')) = (audit_id IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'extrapolated') = (audit_id IS NOT NULL AND claim_id IS NULL))"
)
PREVIOUS_KINDS = "('claim', 'adjustment', 'tranche', 'variation', 'clawback', 'extrapolated')"
PREVIOUS_AMOUNT_RANGE = (
    "repriced_by_version_id IS NOT NULL OR audit_id IS NOT NULL OR (amount >= 0 AND amount <= tariff_share)"
)
LINE_SOURCE = (
    "num_nonnulls(claim_id, tranche_code, variation_code, cohort_payment_id)"
    " + (CASE WHEN claim_id IS NULL AND audit_id IS NOT NULL THEN 1 ELSE 0 END) = 1"
    " AND (claim_id IS NULL) = (outcome_code IS NULL)"
    " AND (tranche_code IS NULL) = (tranche_due IS NULL)"
    " AND (variation_code IS NULL) = (variation_due IS NULL)"
    " AND (cohort_payment_id IS NULL) = (cohort_code IS NULL)"
    " AND (kind IS NULL OR (kind = 'tranche') = (tranche_code IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'variation') = (variation_code IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'cohort') = (cohort_payment_id IS NOT NULL))"
    " AND (kind IS NULL OR (kind IN ('clawback', 'extrapolated')) = (audit_id IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'extrapolated') = (audit_id IS NOT NULL AND claim_id IS NULL))"
)
KINDS = "('claim', 'adjustment', 'tranche', 'variation', 'cohort', 'clawback', 'extrapolated')"
AMOUNT_RANGE = (
    "repriced_by_version_id IS NOT NULL OR audit_id IS NOT NULL"
    " OR (amount <= tariff_share AND (amount >= 0 OR cohort_payment_id IS NOT NULL))"
)
SOURCE = [
    "claim_id",
    "payer_organisation_id",
    "repriced_by_version_id",
    "contract_id",
    "tranche_code",
    "tranche_due",
    "variation_code",
    "variation_due",
    "audit_id",
]


def upgrade() -> None:
    op.create_table(
        "cohort_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("contract_version_id", sa.Uuid(), nullable=False),
        sa.Column("cohort_outcome_code", sa.String(length=100), nullable=False),
        sa.Column("cohort", sa.String(length=100), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("payer_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cohort_size", sa.Integer(), nullable=False),
        sa.Column("comparison_size", sa.Integer(), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("formula", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("working", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("status", sa.String(length=10), server_default=sa.text("'submitted'"), nullable=False),
        sa.Column("submitted_by_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column(
            "submitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("decided_by_organisation_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected')", name=op.f("ck_cohort_payments_status")
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_cohort_payments_period_order")),
        sa.CheckConstraint(
            "cohort_size >= 1 AND comparison_size >= 1", name=op.f("ck_cohort_payments_sizes")
        ),
        sa.CheckConstraint(
            "(status = 'submitted') = (decided_at IS NULL)",
            name=op.f("ck_cohort_payments_decided_when_not_submitted"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_payments")),
    )
    op.create_index(op.f("ix_cohort_payments_partnership_id"), "cohort_payments", ["partnership_id"])
    op.create_index(op.f("ix_cohort_payments_contract_id"), "cohort_payments", ["contract_id"])
    op.create_index(
        "uq_cohort_payments_live",
        "cohort_payments",
        ["contract_id", "cohort_outcome_code", "cohort", "period_start", "period_end"],
        unique=True,
        postgresql_where=sa.text("status <> 'rejected'"),
    )
    op.execute("ALTER TABLE cohort_payments ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY partnership_rows ON cohort_payments USING ({_NAMED}) WITH CHECK ({_NAMED})")

    op.add_column("payment_lines", sa.Column("cohort_payment_id", sa.Uuid(), nullable=True))
    op.add_column("payment_lines", sa.Column("cohort_code", sa.String(length=100), nullable=True))
    op.create_foreign_key(
        op.f("fk_payment_lines_cohort_payment_id_cohort_payments"),
        "payment_lines",
        "cohort_payments",
        ["cohort_payment_id"],
        ["id"],
    )
    # Each approved cohort payment is booked once: it joins the columns that make a line's source unique.
    op.drop_constraint(op.f("uq_payment_lines_source"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_source"),
        "payment_lines",
        [*SOURCE, "cohort_payment_id"],
        postgresql_nulls_not_distinct=True,
    )
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"),
        "payment_lines",
        f"kind IS NULL OR kind IN {KINDS}",
    )
    op.drop_constraint(op.f("ck_payment_lines_line_source"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_line_source"), "payment_lines", LINE_SOURCE)
    op.drop_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", AMOUNT_RANGE)


def downgrade() -> None:
    op.execute("DELETE FROM payment_lines WHERE cohort_payment_id IS NOT NULL")
    op.drop_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", PREVIOUS_AMOUNT_RANGE)
    op.drop_constraint(op.f("ck_payment_lines_line_source"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_line_source"), "payment_lines", PREVIOUS_LINE_SOURCE)
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"),
        "payment_lines",
        f"kind IS NULL OR kind IN {PREVIOUS_KINDS}",
    )
    op.drop_constraint(op.f("uq_payment_lines_source"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_source"), "payment_lines", SOURCE, postgresql_nulls_not_distinct=True
    )
    op.drop_constraint(
        op.f("fk_payment_lines_cohort_payment_id_cohort_payments"), "payment_lines", type_="foreignkey"
    )
    op.drop_column("payment_lines", "cohort_code")
    op.drop_column("payment_lines", "cohort_payment_id")
    op.execute("DROP POLICY partnership_rows ON cohort_payments")
    op.drop_table("cohort_payments")
