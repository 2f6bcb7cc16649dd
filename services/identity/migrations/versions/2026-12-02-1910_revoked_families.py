"""revoked sign-ins (refresh-token families)

Access tokens of users now carry `sid`, their refresh-token family; a family ended early (a replayed
refresh token, a code redeemed twice, an RFC 7009 revocation of a refresh token) is recorded here and
published on the revocation list until its last access token has expired.

Revision ID: 8e4b2d6f0a13
Revises: 5d3a9c7e1f02
Create Date: 2026-12-02 19:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e4b2d6f0a13"
down_revision: str | None = "5d3a9c7e1f02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_families",
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_revoked_families")),
    )
    op.create_index(op.f("ix_revoked_families_revoked_at"), "revoked_families", ["revoked_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_revoked_families_revoked_at"), table_name="revoked_families")
    op.drop_table("revoked_families")
