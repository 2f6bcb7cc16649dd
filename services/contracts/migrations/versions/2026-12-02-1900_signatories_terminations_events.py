"""who must sign a version, fixed on proposal; termination consents; the contract change log

Revision ID: 7c1e5b2d9a40
Revises: 30f76918d5c5
Create Date: 2026-12-02 19:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7c1e5b2d9a40"
down_revision: str | None = "30f76918d5c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contract_versions", sa.Column("supersedes_id", sa.Uuid(), nullable=True))
    op.add_column("contract_versions", sa.Column("signatories", postgresql.ARRAY(sa.Uuid()), nullable=True))
    op.create_foreign_key(
        op.f("fk_contract_versions_supersedes_id_contract_versions"),
        "contract_versions",
        "contract_versions",
        ["supersedes_id"],
        ["id"],
    )
    # Versions proposed before this revision: their own signing parties, and for an open proposal that
    # amends the active version, that version's too (the rule from now on).
    op.execute(
        """
        UPDATE contract_versions v SET signatories = ARRAY(
            SELECT (p->>'organisation_id')::uuid FROM jsonb_array_elements(v.terms->'parties') p
            WHERE (p->>'must_sign')::boolean
        ) WHERE v.status <> 'draft'
        """
    )
    op.execute(
        """
        UPDATE contract_versions v SET supersedes_id = a.id, signatories = ARRAY(
            SELECT DISTINCT unnest(v.signatories || a.signatories)
        )
        FROM contract_versions a
        WHERE v.status = 'proposed' AND a.contract_id = v.contract_id AND a.status = 'active'
        """
    )
    op.create_table(
        "termination_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("unilateral", sa.Boolean(), nullable=False),
        sa.Column(
            "consented_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["contract_versions.id"],
            name=op.f("fk_termination_consents_version_id_contract_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_termination_consents")),
        sa.UniqueConstraint(
            "version_id", "organisation_id", name=op.f("uq_termination_consents_version_id_organisation_id")
        ),
    )
    op.create_table(
        "contract_events",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("actor", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_contract_events")),
        sa.UniqueConstraint("id", name=op.f("uq_contract_events_id")),
    )
    # Who must sign is frozen with the terms; consents, like signatures, and the change log are never
    # rewritten.
    op.execute(FREEZE_FUNCTION)
    op.execute(
        "CREATE TRIGGER trg_termination_consents_immutable BEFORE UPDATE ON termination_consents "
        "FOR EACH ROW EXECUTE FUNCTION signatures_immutable()"
    )
    op.execute(
        "CREATE TRIGGER trg_contract_events_immutable BEFORE UPDATE ON contract_events "
        "FOR EACH ROW EXECUTE FUNCTION signatures_immutable()"
    )


FREEZE_FUNCTION = """
CREATE OR REPLACE FUNCTION contract_versions_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' AND (
        NEW.terms IS DISTINCT FROM OLD.terms OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
        OR NEW.signatories IS DISTINCT FROM OLD.signatories OR NEW.supersedes_id IS DISTINCT FROM OLD.supersedes_id
    ) THEN
        RAISE EXCEPTION 'contract version % is frozen', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$
"""

PREVIOUS_FREEZE_FUNCTION = """
CREATE OR REPLACE FUNCTION contract_versions_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' AND (
        NEW.terms IS DISTINCT FROM OLD.terms OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
    ) THEN
        RAISE EXCEPTION 'contract version % is frozen', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$
"""


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_contract_events_immutable ON contract_events")
    op.execute("DROP TRIGGER trg_termination_consents_immutable ON termination_consents")
    op.execute(PREVIOUS_FREEZE_FUNCTION)
    op.drop_table("contract_events")
    op.drop_table("termination_consents")
    op.drop_constraint(
        op.f("fk_contract_versions_supersedes_id_contract_versions"), "contract_versions", type_="foreignkey"
    )
    op.drop_column("contract_versions", "signatories")
    op.drop_column("contract_versions", "supersedes_id")
