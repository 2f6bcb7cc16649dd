"""sign-in throttles replace the users' failed-login columns

Failed sign-ins are counted per e-mail address (a keyed hash, whether or not a user has it), per source
address and per OAuth client in one table (services/identity/oauth/login.py), so that known and unknown
addresses are locked alike. Locks in force when this runs are lost (their counts were per user row, and
the new key needs the service secret): at worst an account locked right now is unlocked once.

Revision ID: 9f5c3e7a1b24
Revises: 8e4b2d6f0a13
Create Date: 2026-12-02 19:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9f5c3e7a1b24"
down_revision: str | None = "8e4b2d6f0a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttles",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('account', 'address', 'client')", name=op.f("ck_sign_in_throttles_kind")
        ),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_sign_in_throttles")),
    )
    op.create_index(op.f("ix_sign_in_throttles_since"), "sign_in_throttles", ["since"], unique=False)
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")


def downgrade() -> None:
    op.add_column("users", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "users", sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.drop_index(op.f("ix_sign_in_throttles_since"), table_name="sign_in_throttles")
    op.drop_table("sign_in_throttles")
