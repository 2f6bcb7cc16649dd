"""add webhook token epoch

Revision ID: 7c3e9b1f42d0
Revises: 0499a7e33f1d
Create Date: 2026-11-27 10:00:00.000000+00:00

A subscription records the organisation token epoch of the token that created (or last re-enabled or
edited) it, so that identity's revocation list can disable it when the organisation's memberships change.
Existing rows get 0: a token issued before epochs existed carries none, and kit.auth reads a missing
epoch as 0, so 0 is exactly what those creators' tokens said.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3e9b1f42d0"
down_revision: str | None = "0499a7e33f1d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_subscriptions",
        sa.Column("token_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("webhook_subscriptions", "token_epoch")
