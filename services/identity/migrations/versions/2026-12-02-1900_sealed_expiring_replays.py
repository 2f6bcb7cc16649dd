"""sealed, expiring idempotent replays

Stored replays are now fingerprinted with an HMAC and keep secrets sealed (services/identity/replays.py).
The rows written before hold clear client secrets and unkeyed digests of bodies with passwords in them,
and their fingerprints can never match a retry again: they are deleted. The index lets housekeeping delete
replays by age.

Revision ID: 5d3a9c7e1f02
Revises: 7c1f0e9a4b21
Create Date: 2026-12-02 19:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5d3a9c7e1f02"
down_revision: str | None = "7c1f0e9a4b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
