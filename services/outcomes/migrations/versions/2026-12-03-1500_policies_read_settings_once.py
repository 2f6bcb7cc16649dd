"""row policies read their settings once per statement

Revision ID: 3b8e5d1f7a92
Revises: 7c1f3e9a2b64
Create Date: 2026-12-03 15:00:00.000000+00:00

The partnership policies rebuilt the caller's list from `effekt.partnerships` for every row they
filtered (`partnership_id = ANY (string_to_array(nullif(current_setting(...), '*'), ',')::uuid[])`): a
split and a uuid cast per row, about 0.6 ms of a 1000-row page. Read through a scalar subquery, the list
(and the `*` test, and the organisation of the organisation-owned rows) is an InitPlan, computed once per
statement; what is admitted is unchanged (kit/rows.py holds the text). The children's policies admit by
their parent's, so they follow without change.
"""

from collections.abc import Sequence

from alembic import op

from kit.rows import ORGANISATION_ROWS, PARTNERSHIP_ROWS

revision: str = "3b8e5d1f7a92"
down_revision: str | None = "7c1f3e9a2b64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the row-level security, payment audits and cohort payments migrations left them.
_SETTING = "current_setting('effekt.partnerships', true)"
_NAMED = f"({_SETTING} = '*' OR partnership_id = ANY (string_to_array(nullif({_SETTING}, '*'), ',')::uuid[]))"
_OWN = "organisation_id = nullif(current_setting('effekt.organisation', true), '')::uuid"

_BY_PARTNERSHIP = (
    "participants",
    "outcome_claims",
    "payment_statements",
    "ledger_events",
    "ledger_heads",
    "participant_tallies",
    "participant_tally_deltas",
    "claim_tallies",
    "claim_tally_deltas",
    "ledger_disclosures",
    "erasures",
    "payment_audits",
    "audit_claims",
    "cohort_payments",
)
_BY_PARTNERSHIP_OR_OWNER = ("webhook_subscriptions", "bulk_imports")


def _set(named: str, own: str) -> None:
    policies = {table: named for table in _BY_PARTNERSHIP}
    policies |= {table: f"({named} OR {own})" for table in _BY_PARTNERSHIP_OR_OWNER}
    for table, admitted in policies.items():
        op.execute(f"ALTER POLICY partnership_rows ON {table} USING ({admitted}) WITH CHECK ({admitted})")


def upgrade() -> None:
    _set(PARTNERSHIP_ROWS, ORGANISATION_ROWS)


def downgrade() -> None:
    _set(_NAMED, _OWN)
