"""row-level security on every table holding partnership data

Revision ID: b45c805cd87d
Revises: 5e2a9c71d4b8
Create Date: 2026-12-03 11:30:00.000000+00:00

A backstop beneath the service's own rules (access.py): a query that forgot its partnership condition
still sees, and writes, only the rows of the partnerships its transaction names in `effekt.partnerships`
(kit/db.py sets it, transaction-locally, as each transaction begins: the caller's partnerships, or `*` for
the background work that serves them all). A table with a `partnership_id` is admitted by it (webhook
subscriptions and bulk imports also by their organisation, `effekt.organisation`, the caller's); a table
without one by its parent row, which its own policy admits (a delivery by its subscription, a payment line
by its claim or a tranche's by its contract's statements, a cap counter by a participant of its contract). The owner, who migrates, is not bound; the
service connects as a runtime role that owns nothing (docs/operations.md, Row-level security).

ANALYZE needs the tables' owner too: `analyse_after_bulk_import()` runs it as the owner for the tables a
large bulk import grows, as the import used to itself (services/outcomes/bulk/service.py).

Left without a policy, because they hold no partnership's data or are keyed by something else: the
idempotency keys (one caller's own replays), the bulk references (one organisation's external
references and an HMAC), the contract change log's cursor, and alembic's version.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b45c805cd87d"
down_revision: str | None = "5e2a9c71d4b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `*` names every partnership; otherwise a comma-separated list of ids (empty or unset: none). The cast
# sees NULL for `*`, so no branch ever casts it, whichever the planner evaluates first.
_SETTING = "current_setting('effekt.partnerships', true)"
_NAMED = f"({_SETTING} = '*' OR partnership_id = ANY (string_to_array(nullif({_SETTING}, '*'), ',')::uuid[]))"

# Rows an organisation owns whatever its memberships: its webhook subscriptions (and their deliveries),
# still its own to read, and to see disabled, after its membership ended; its bulk imports' results.
_OWN = "organisation_id = nullif(current_setting('effekt.organisation', true), '')::uuid"

POLICIES: dict[str, str] = {
    "participants": _NAMED,
    "outcome_claims": _NAMED,
    "payment_statements": _NAMED,
    "ledger_events": _NAMED,
    "ledger_heads": _NAMED,
    "participant_tallies": _NAMED,
    "participant_tally_deltas": _NAMED,
    "claim_tallies": _NAMED,
    "claim_tally_deltas": _NAMED,
    "webhook_subscriptions": f"({_NAMED} OR {_OWN})",
    "bulk_imports": f"({_NAMED} OR {_OWN})",
    "ledger_disclosures": _NAMED,
    "erasures": _NAMED,
    # Children, admitted through their parent's policy (a subquery in a policy is itself bound by the
    # policies of the tables it reads).
    # A claim's line by its claim; a tranche's (no claim) by a statement of its contract, which is drafted
    # before the tranche is booked on it.
    "payment_lines": "(claim_id IN (SELECT id FROM outcome_claims) OR (claim_id IS NULL AND contract_id IN "
    "(SELECT contract_id FROM payment_statements)))",
    "cap_counters": "contract_id IN (SELECT contract_id FROM participants)",
    "webhook_deliveries": "subscription_id IN (SELECT id FROM webhook_subscriptions)",
    "webhook_attempts": "delivery_id IN (SELECT id FROM webhook_deliveries)",
    "bulk_import_lines": "import_id IN (SELECT id FROM bulk_imports)",
}


def upgrade() -> None:
    for table, admitted in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY partnership_rows ON {table} USING ({admitted}) WITH CHECK ({admitted})")
    op.execute(
        """
        CREATE FUNCTION analyse_after_bulk_import() RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ BEGIN ANALYZE participants, outcome_claims, bulk_references, ledger_events; END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION analyse_after_bulk_import()")
    for table in reversed(POLICIES):
        op.execute(f"DROP POLICY partnership_rows ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
