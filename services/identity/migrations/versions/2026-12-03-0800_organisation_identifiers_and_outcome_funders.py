"""organisation identifiers and outcome funders

Organisations are identified org-id style (`DK-CVR-12345678`, `GB-COH-01234567`): every existing one gets
`DK-CVR-<its cvr>`, and `cvr` stays, now only for Danish CVR identifiers. A national agency or outcome
fund that pays for outcomes is a partner type of its own, `outcome_funder`.

Revision ID: 3b8d5e1c7a90
Revises: f4aa1b762ea6
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b8d5e1c7a90"
down_revision: str | None = "f4aa1b762ea6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TYPES = "('municipality', 'provider', 'investor', 'evaluator', 'legal_adviser', 'operator')"
_NEW_TYPES = (
    "('municipality', 'outcome_funder', 'provider', 'investor', 'evaluator', 'legal_adviser', 'operator')"
)


def upgrade() -> None:
    op.add_column("organisations", sa.Column("identifier", sa.String(length=80), nullable=True))
    op.execute("UPDATE organisations SET identifier = 'DK-CVR-' || cvr")
    op.alter_column("organisations", "identifier", nullable=False)
    op.alter_column("organisations", "cvr", existing_type=sa.String(length=8), nullable=True)
    op.create_index(op.f("ix_organisations_identifier"), "organisations", ["identifier"], unique=False)
    op.create_check_constraint(
        op.f("ck_organisations_identifier_form"),
        "organisations",
        "identifier ~ '^[A-Z]{2}-[A-Z0-9]{2,6}-[A-Z0-9]+$'",
    )
    op.create_check_constraint(
        op.f("ck_organisations_cvr_identifier"),
        "organisations",
        "identifier = 'DK-CVR-' || cvr OR (cvr IS NULL AND identifier NOT LIKE 'DK-CVR-%')",
    )
    op.drop_constraint(op.f("ck_organisations_partner_type"), "organisations", type_="check")
    op.create_check_constraint(
        op.f("ck_organisations_partner_type"), "organisations", f"partner_type IN {_NEW_TYPES}"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_organisations_partner_type"), "organisations", type_="check")
    op.create_check_constraint(
        op.f("ck_organisations_partner_type"), "organisations", f"partner_type IN {_OLD_TYPES}"
    )
    op.drop_constraint(op.f("ck_organisations_cvr_identifier"), "organisations", type_="check")
    op.drop_constraint(op.f("ck_organisations_identifier_form"), "organisations", type_="check")
    op.drop_index(op.f("ix_organisations_identifier"), table_name="organisations")
    # Organisations without a CVR cannot be written down in the old shape: refuse rather than invent one.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM organisations WHERE cvr IS NULL) THEN "
        "RAISE EXCEPTION 'organisations without a CVR exist; remove them before downgrading'; END IF; END $$"
    )
    op.alter_column("organisations", "cvr", existing_type=sa.String(length=8), nullable=False)
    op.drop_column("organisations", "identifier")
