"""payment lines and cap counters admitted by a keyed look-up of their parent

Revision ID: 7c1f3e9a2b64
Revises: 7d3f1c9a2e65
Create Date: 2026-12-03 14:30:00.000000+00:00

The policies admitted a payment line by `claim_id IN (SELECT id FROM outcome_claims)` and a cap counter by
`contract_id IN (SELECT contract_id FROM participants)`. PostgreSQL runs such an uncorrelated IN as a
hashed subplan, built from every visible row of the parent table for each statement: each INSERT of a
payment line (one per payer of each verified claim, executemany) hashed all the partnership's claims, and
each cap-counter lock all its participants, so verification slowed as a partnership grew (seen: a bulk
verification of 400 lines taking 17 s, then 40 s two files later, most of it in `INSERT INTO
payment_lines`). The same rows are admitted by a correlated EXISTS, which is an index look-up per row. The
parent's own policy still binds the subquery, so what is admitted is unchanged.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7c1f3e9a2b64"
down_revision: str | None = "7d3f1c9a2e65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = {
    "payment_lines": "(claim_id IN (SELECT id FROM outcome_claims) OR (claim_id IS NULL AND contract_id IN "
    "(SELECT contract_id FROM payment_statements)))",
    "cap_counters": "contract_id IN (SELECT contract_id FROM participants)",
}
_AFTER = {
    "payment_lines": "(EXISTS (SELECT 1 FROM outcome_claims c WHERE c.id = payment_lines.claim_id) OR "
    "(claim_id IS NULL AND EXISTS (SELECT 1 FROM payment_statements s "
    "WHERE s.contract_id = payment_lines.contract_id)))",
    "cap_counters": "EXISTS (SELECT 1 FROM participants p WHERE p.contract_id = cap_counters.contract_id)",
}


def _set(policies: dict[str, str]) -> None:
    for table, admitted in policies.items():
        op.execute(f"ALTER POLICY partnership_rows ON {table} USING ({admitted}) WITH CHECK ({admitted})")


def upgrade() -> None:
    _set(_AFTER)


def downgrade() -> None:
    _set(_BEFORE)
