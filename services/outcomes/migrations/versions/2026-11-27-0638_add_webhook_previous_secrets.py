"""add webhook previous secrets

Revision ID: ed4473d85a9f
Revises: 25043c2d950a
Create Date: 2026-11-27 06:38:25.000000+00:00

Secret rotation: the previous signing secret (encrypted like the current one) keeps signing deliveries
beside the new one until it expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ed4473d85a9f"
down_revision: str | None = "25043c2d950a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_subscriptions", sa.Column("previous_secret_ciphertext", sa.LargeBinary(), nullable=True)
    )
    op.add_column(
        "webhook_subscriptions", sa.Column("previous_secret_key_version", sa.Integer(), nullable=True)
    )
    op.add_column(
        "webhook_subscriptions",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_webhook_subscriptions_previous_secret"),
        "webhook_subscriptions",
        "(previous_secret_ciphertext IS NULL) = (previous_secret_key_version IS NULL)"
        " AND (previous_secret_ciphertext IS NULL) = (previous_secret_expires_at IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_webhook_subscriptions_previous_secret"), "webhook_subscriptions", type_="check"
    )
    op.drop_column("webhook_subscriptions", "previous_secret_expires_at")
    op.drop_column("webhook_subscriptions", "previous_secret_key_version")
    op.drop_column("webhook_subscriptions", "previous_secret_ciphertext")
