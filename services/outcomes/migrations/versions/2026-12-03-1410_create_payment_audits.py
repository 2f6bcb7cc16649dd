"""create payment audits

Revision ID: a7d3c9e51b02
Revises: 7c4f1a9e2b60
Create Date: 2026-12-03 14:10:00.000000+00:00

Post-payment audits (terms v2 `audits`): an audit of a payer's paid claims for a period, its population
with each claim's rank in the seeded draw and, for the sample, the payer's findings. A payment line may
now be an audit's: a `clawback` of one claim (audit and claim) or an audit's `extrapolated` adjustment
(audit, no claim), both negative; a claim is clawed back once, an audit extrapolates once. Both tables are bound by
row-level security through their own `partnership_id`, like the other partnership tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a7d3c9e51b02"
down_revision: str | None = "7c4f1a9e2b60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SETTING = "current_setting('effekt.partnerships', true)"
_NAMED = f"({_SETTING} = '*' OR partnership_id = ANY (string_to_array(nullif({_SETTING}, '*'), ',')::uuid[]))"

ONE_SOURCE = (  # as the variation lines' migration left it
    "num_nonnulls(claim_id, tranche_code, variation_code) = 1"
    " AND (claim_id IS NULL) = (outcome_code IS NULL)"
    " AND (tranche_code IS NULL) = (tranche_due IS NULL)"
    " AND (variation_code IS NULL) = (variation_due IS NULL)"
    " AND (kind IS NULL OR ((kind = 'tranche') = (tranche_code IS NOT NULL)"
    " AND (kind = 'variation') = (variation_code IS NOT NULL)))"
)
LINE_SOURCE = (
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
SOURCE = [
    "claim_id",
    "payer_organisation_id",
    "repriced_by_version_id",
    "contract_id",
    "tranche_code",
    "tranche_due",
    "variation_code",
    "variation_due",
]


def upgrade() -> None:
    op.create_table(
        "payment_audits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("contract_version_id", sa.Uuid(), nullable=False),
        sa.Column("payer_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("rule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("population_claims", sa.Integer(), nullable=False),
        sa.Column("population_value", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default=sa.text("'open'"), nullable=False),
        sa.Column("clawed_back", sa.Numeric(precision=18, scale=3), nullable=True),
        sa.Column("extrapolated", sa.Numeric(precision=18, scale=3), nullable=True),
        sa.Column("working", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name=op.f("ck_payment_audits_closed_when_closed")
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_payment_audits_period_order")),
        sa.CheckConstraint(
            "sample_size <= population_claims", name=op.f("ck_payment_audits_sample_within_population")
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_payment_audits_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_audits")),
    )
    op.create_index(op.f("ix_payment_audits_contract_id"), "payment_audits", ["contract_id"], unique=False)
    op.create_index(
        op.f("ix_payment_audits_partnership_id"), "payment_audits", ["partnership_id"], unique=False
    )
    op.create_table(
        "audit_claims",
        sa.Column("audit_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("rank", sa.String(length=64), nullable=False),
        sa.Column("sampled", sa.Boolean(), nullable=False),
        sa.Column("finding", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("disputed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispute_reason", sa.Text(), nullable=True),
        sa.Column("resolved", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_audit_claims_paid")),
        sa.CheckConstraint(
            "finding IS NULL OR finding IN ('valid', 'invalid')", name=op.f("ck_audit_claims_finding")
        ),
        sa.CheckConstraint("finding IS NULL OR sampled", name=op.f("ck_audit_claims_findings_on_the_sample")),
        sa.CheckConstraint(
            "finding IS DISTINCT FROM 'invalid' OR reason IS NOT NULL",
            name=op.f("ck_audit_claims_invalid_with_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["payment_audits.id"], name=op.f("fk_audit_claims_audit_id_payment_audits")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["outcome_claims.id"], name=op.f("fk_audit_claims_claim_id_outcome_claims")
        ),
        sa.PrimaryKeyConstraint("audit_id", "claim_id", name=op.f("pk_audit_claims")),
    )
    op.add_column("payment_lines", sa.Column("audit_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_payment_lines_audit_id_payment_audits"),
        "payment_lines",
        "payment_audits",
        ["audit_id"],
        ["id"],
    )
    op.drop_constraint(op.f("uq_payment_lines_source"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_source"),
        "payment_lines",
        [*SOURCE, "audit_id"],
        postgresql_nulls_not_distinct=True,
    )
    op.drop_constraint(op.f("ck_payment_lines_one_source"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_line_source"), "payment_lines", LINE_SOURCE)
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"),
        "payment_lines",
        "kind IS NULL OR kind IN ('claim', 'adjustment', 'tranche', 'variation', 'clawback', 'extrapolated')",
    )
    op.drop_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_amount_range"),
        "payment_lines",
        "repriced_by_version_id IS NOT NULL OR audit_id IS NOT NULL OR (amount >= 0 AND amount <= tariff_share)",
    )
    op.create_check_constraint(
        op.f("ck_payment_lines_audit_takes_back"),
        "payment_lines",
        "audit_id IS NULL OR (amount < 0 AND amount = tariff_share)",
    )
    op.create_index(
        "uq_payment_lines_clawback",
        "payment_lines",
        ["claim_id", "payer_organisation_id"],
        unique=True,
        postgresql_where=sa.text("audit_id IS NOT NULL AND claim_id IS NOT NULL"),
    )
    op.create_index(
        "uq_payment_lines_extrapolation",
        "payment_lines",
        ["audit_id"],
        unique=True,
        postgresql_where=sa.text("audit_id IS NOT NULL AND claim_id IS NULL"),
    )
    for table in ("payment_audits", "audit_claims"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY partnership_rows ON {table} USING ({_NAMED}) WITH CHECK ({_NAMED})")


def downgrade() -> None:
    for table in ("audit_claims", "payment_audits"):
        op.execute(f"DROP POLICY partnership_rows ON {table}")
    op.execute("DELETE FROM payment_lines WHERE audit_id IS NOT NULL")
    op.drop_index("uq_payment_lines_extrapolation", table_name="payment_lines")
    op.drop_index("uq_payment_lines_clawback", table_name="payment_lines")
    op.drop_constraint(op.f("ck_payment_lines_audit_takes_back"), "payment_lines", type_="check")
    op.drop_constraint(op.f("ck_payment_lines_amount_range"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_amount_range"),
        "payment_lines",
        "repriced_by_version_id IS NOT NULL OR (amount >= 0 AND amount <= tariff_share)",
    )
    op.drop_constraint(op.f("ck_payment_lines_kind"), "payment_lines", type_="check")
    op.create_check_constraint(
        op.f("ck_payment_lines_kind"),
        "payment_lines",
        "kind IS NULL OR kind IN ('claim', 'adjustment', 'tranche', 'variation')",
    )
    op.drop_constraint(op.f("ck_payment_lines_line_source"), "payment_lines", type_="check")
    op.create_check_constraint(op.f("ck_payment_lines_one_source"), "payment_lines", ONE_SOURCE)
    op.drop_constraint(op.f("uq_payment_lines_source"), "payment_lines", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payment_lines_source"), "payment_lines", SOURCE, postgresql_nulls_not_distinct=True
    )
    op.drop_constraint(op.f("fk_payment_lines_audit_id_payment_audits"), "payment_lines", type_="foreignkey")
    op.drop_column("payment_lines", "audit_id")
    op.drop_table("audit_claims")
    op.drop_index(op.f("ix_payment_audits_partnership_id"), table_name="payment_audits")
    op.drop_index(op.f("ix_payment_audits_contract_id"), table_name="payment_audits")
    op.drop_table("payment_audits")
