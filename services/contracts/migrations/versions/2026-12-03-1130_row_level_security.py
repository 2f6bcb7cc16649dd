"""row-level security on every table holding partnership data

Revision ID: affd757ad225
Revises: 5d2a9c41e8b7
Create Date: 2026-12-03 11:30:00.000000+00:00

A backstop beneath the registry's own rules (`readable_contracts`, `readable_versions`): a query that
forgot its partnership condition still sees, and writes, only the rows of the partnerships its transaction
names in `effekt.partnerships` (kit/db.py sets it, transaction-locally, as each transaction begins: the
caller's partnerships, or `*` for an operator). Contracts and the change log carry a `partnership_id`; a
version is admitted by its contract, and a signature, termination consent or attachment by its version.
The owner, who migrates, is not bound; the service connects as a runtime role that owns nothing
(docs/operations.md, Row-level security). The idempotency keys (one caller's own replays) and alembic's
version have no policy.

The change log's sequence is one across every partnership: a writer, who sees only its partnership's
events, takes the next one from `contract_events_last_sequence()`, which runs as the owner and returns that
one number and nothing of any row.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "affd757ad225"
down_revision: str | None = "5d2a9c41e8b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `*` names every partnership; otherwise a comma-separated list of ids (empty or unset: none). The cast
# sees NULL for `*`, so no branch ever casts it, whichever the planner evaluates first.
_SETTING = "current_setting('effekt.partnerships', true)"
_NAMED = f"({_SETTING} = '*' OR partnership_id = ANY (string_to_array(nullif({_SETTING}, '*'), ',')::uuid[]))"

POLICIES: dict[str, str] = {
    "contracts": _NAMED,
    "contract_events": _NAMED,
    "disclosure_policies": _NAMED,
    "disclosure_statuses": _NAMED,
    "disclosure_changes": _NAMED,
    "publications": _NAMED,
    "contract_versions": "contract_id IN (SELECT id FROM contracts)",
    "signatures": "version_id IN (SELECT id FROM contract_versions)",
    "termination_consents": "version_id IN (SELECT id FROM contract_versions)",
    "attachments": "version_id IN (SELECT id FROM contract_versions)",
}


def upgrade() -> None:
    for table, admitted in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY partnership_rows ON {table} USING ({admitted}) WITH CHECK ({admitted})")
    op.execute(
        """
        CREATE FUNCTION contract_events_last_sequence() RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ SELECT coalesce(max(sequence), 0) FROM contract_events $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION contract_events_last_sequence()")
    for table in reversed(POLICIES):
        op.execute(f"DROP POLICY partnership_rows ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
