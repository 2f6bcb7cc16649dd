"""encrypt webhook secrets

Revision ID: 25043c2d950a
Revises: 32f53faeca1c
Create Date: 2026-11-27 06:33:12.000000+00:00

Webhook signing secrets move from a clear column to AES-256-GCM ciphertext under the service's key ring
(`PartnershipKeys.encrypt_webhook_secret`, the key version beside it), and the creation answers stored for
`Idempotency-Key` replay, which held the secret in clear, carry it sealed instead (webhooks/routes.py).

The data step is Python, not SQL: PostgreSQL has no AES-GCM, and the keys are derived from
`OUTCOMES_SECRET_KEY` / `_VERSION` / `OUTCOMES_PREVIOUS_SECRET_KEYS`, which this tree's `env.py` already
reads through the service's `Settings` (production refuses to build them with a development secret). The
migration Job and `effekt migrate` run with the service's environment, so rows are encrypted under the
keys the replicas use. One caveat: a migrate-on-start of an app built with settings that are not its
environment would encrypt existing rows under the environment's keys; only tests do that, on empty
databases. Offline (`--sql`) mode cannot run it: rows are read and rewritten one by one.
"""

import base64
import json
from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from alembic import context, op

from services.outcomes.pseudonyms import PartnershipKeys
from services.outcomes.settings import Settings

revision: str = "25043c2d950a"
down_revision: str | None = "32f53faeca1c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Creation answers of `POST /v1/webhook-subscriptions`: the only stored responses with a `secret`.
_STORED_ANSWERS = """
    SELECT owner, key, response FROM idempotency_keys
    WHERE jsonb_typeof(response -> 'secret') = :kind
      AND response ->> 'id' IS NOT NULL AND response ->> 'partnership_id' IS NOT NULL
"""
_SET_STORED_SECRET = sa.text(
    "UPDATE idempotency_keys SET response = jsonb_set(response, '{secret}', CAST(:secret AS jsonb)) "
    "WHERE owner = :owner AND key = :key"
)


def _partnership_keys() -> PartnershipKeys:
    return Settings().partnership_keys()


def _require_online() -> None:
    if context.is_offline_mode():
        raise RuntimeError("this revision converts webhook secrets row by row; run it against a database")


def upgrade() -> None:
    _require_online()
    op.add_column("webhook_subscriptions", sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True))
    op.add_column("webhook_subscriptions", sa.Column("secret_key_version", sa.Integer(), nullable=True))
    bind = op.get_bind()
    subscriptions = bind.execute(
        sa.text("SELECT id, partnership_id, secret FROM webhook_subscriptions")
    ).all()
    answers = bind.execute(sa.text(_STORED_ANSWERS), {"kind": "string"}).all()
    if subscriptions or answers:
        keys = _partnership_keys()
        for row in subscriptions:
            version, blob = keys.encrypt_webhook_secret(
                row.secret, partnership_id=UUID(str(row.partnership_id)), subscription_id=UUID(str(row.id))
            )
            bind.execute(
                sa.text(
                    "UPDATE webhook_subscriptions SET secret_ciphertext = :blob, secret_key_version = :version "
                    "WHERE id = :id"
                ),
                {"blob": blob, "version": version, "id": row.id},
            )
        for answer in answers:
            version, blob = keys.encrypt_webhook_secret(
                answer.response["secret"],
                partnership_id=UUID(answer.response["partnership_id"]),
                subscription_id=UUID(answer.response["id"]),
            )
            sealed = {"key_version": version, "ciphertext": base64.b64encode(blob).decode()}
            bind.execute(
                _SET_STORED_SECRET, {"secret": json.dumps(sealed), "owner": answer.owner, "key": answer.key}
            )
    op.alter_column("webhook_subscriptions", "secret_ciphertext", nullable=False)
    op.alter_column("webhook_subscriptions", "secret_key_version", nullable=False)
    op.drop_column("webhook_subscriptions", "secret")


def downgrade() -> None:
    _require_online()
    op.add_column("webhook_subscriptions", sa.Column("secret", sa.String(length=100), nullable=True))
    bind = op.get_bind()
    subscriptions = bind.execute(
        sa.text("SELECT id, partnership_id, secret_ciphertext, secret_key_version FROM webhook_subscriptions")
    ).all()
    answers = bind.execute(sa.text(_STORED_ANSWERS), {"kind": "object"}).all()
    if subscriptions or answers:
        keys = _partnership_keys()
        for row in subscriptions:
            secret = keys.decrypt_webhook_secret(
                bytes(row.secret_ciphertext),
                version=row.secret_key_version,
                partnership_id=UUID(str(row.partnership_id)),
                subscription_id=UUID(str(row.id)),
            )
            bind.execute(
                sa.text("UPDATE webhook_subscriptions SET secret = :secret WHERE id = :id"),
                {"secret": secret, "id": row.id},
            )
        for answer in answers:
            sealed = answer.response["secret"]
            secret = keys.decrypt_webhook_secret(
                base64.b64decode(sealed["ciphertext"]),
                version=sealed["key_version"],
                partnership_id=UUID(answer.response["partnership_id"]),
                subscription_id=UUID(answer.response["id"]),
            )
            bind.execute(
                _SET_STORED_SECRET, {"secret": json.dumps(secret), "owner": answer.owner, "key": answer.key}
            )
    op.alter_column("webhook_subscriptions", "secret", nullable=False)
    op.drop_column("webhook_subscriptions", "secret_key_version")
    op.drop_column("webhook_subscriptions", "secret_ciphertext")
