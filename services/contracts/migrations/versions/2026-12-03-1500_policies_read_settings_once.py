"""row policies read the partnership setting once per statement

Revision ID: 9e4a2c6b1d37
Revises: affd757ad225
Create Date: 2026-12-03 15:00:00.000000+00:00

The partnership policies rebuilt the caller's list from `effekt.partnerships` for every row they
filtered: a split and a uuid cast per row. Read through a scalar subquery, the list (and the `*` test) is
an InitPlan, computed once per statement; what is admitted is unchanged (kit/rows.py holds the text, which
the outcome service's policies share). The versions' and their children's policies admit by their parent's,
so they follow without change.
"""

from collections.abc import Sequence

from alembic import op

from kit.rows import PARTNERSHIP_ROWS

revision: str = "9e4a2c6b1d37"
down_revision: str | None = "affd757ad225"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the row-level security migration left it.
_SETTING = "current_setting('effekt.partnerships', true)"
_NAMED = f"({_SETTING} = '*' OR partnership_id = ANY (string_to_array(nullif({_SETTING}, '*'), ',')::uuid[]))"

_BY_PARTNERSHIP = (
    "contracts",
    "contract_events",
    "disclosure_policies",
    "disclosure_statuses",
    "disclosure_changes",
    "publications",
)


def _set(named: str) -> None:
    for table in _BY_PARTNERSHIP:
        op.execute(f"ALTER POLICY partnership_rows ON {table} USING ({named}) WITH CHECK ({named})")


def upgrade() -> None:
    _set(PARTNERSHIP_ROWS)


def downgrade() -> None:
    _set(_NAMED)
