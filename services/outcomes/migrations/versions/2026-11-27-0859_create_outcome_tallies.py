"""create outcome tallies

Revision ID: 0499a7e33f1d
Revises: ed4473d85a9f
Create Date: 2026-11-27 08:59:25.000000+00:00

The partnership aggregates read tallies instead of scanning every participant and claim (tallies.py).
Statement-level AFTER triggers with transition tables on `participants` and `outcome_claims` append each
statement's net change, grouped, to an insert-only delta table, so every write path (single endpoints,
bulk import's set-based inserts, verification, disputes) keeps the tallies exact without knowing of them,
and concurrent writers never wait on a shared counter row. PostgreSQL allows transition tables only on a
trigger with one event, hence a trigger per event; they share one function per table, which branches on
`TG_OP` into static SQL (planned once per session, unlike EXECUTE).

The backfill runs with both tables locked against writes (SHARE ROW EXCLUSIVE, which CREATE TRIGGER takes
anyway), after the triggers exist: a write either committed before the backfill's snapshot or waits and
then goes through a trigger, so nothing is counted twice or missed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0499a7e33f1d"
down_revision: str | None = "ed4473d85a9f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# --- what a set of participant / claim rows adds to the tallies (sign -1 for rows going away) ------------

_PARTICIPANT_ROWS = "SELECT partnership_id, contract_id, exit_date, {sign} AS sign FROM {rows}"
_PARTICIPANT_DELTAS = """
        INSERT INTO participant_tally_deltas (partnership_id, contract_id, enrolled, exited)
        SELECT partnership_id, contract_id, sum(sign), sum(sign * (exit_date IS NOT NULL)::int)
        FROM ({rows}) AS changed
        GROUP BY partnership_id, contract_id
        HAVING sum(sign) <> 0 OR sum(sign * (exit_date IS NOT NULL)::int) <> 0;"""

_CLAIM_ROWS = (
    "SELECT partnership_id, contract_id, claimed_contract_version_id, outcome_code, achievement_date, status,"
    " currency, payable, {sign} AS sign FROM {rows}"
)
# Rejected claims count towards nothing the aggregates show.
_CLAIM_DELTAS = """
        INSERT INTO claim_tally_deltas
            (partnership_id, contract_id, contract_version_id, outcome_code, month, status, currency,
             claims, payable)
        SELECT partnership_id, contract_id, claimed_contract_version_id, outcome_code,
               to_char(achievement_date, 'YYYY-MM'), status, currency,
               sum(sign), coalesce(sum(sign * payable), 0)
        FROM ({rows}) AS changed
        WHERE status <> 'rejected'
        GROUP BY partnership_id, contract_id, claimed_contract_version_id, outcome_code,
                 to_char(achievement_date, 'YYYY-MM'), status, currency
        HAVING sum(sign) <> 0 OR coalesce(sum(sign * payable), 0) <> 0;"""


def _function(name: str, rows: str, deltas: str, tables: str) -> str:
    new, old = rows.format(sign=1, rows="new_rows"), rows.format(sign=-1, rows="old_rows")
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN{deltas.format(rows=new)}
    ELSIF TG_OP = 'DELETE' THEN{deltas.format(rows=old)}
    ELSIF TG_OP = 'UPDATE' THEN{deltas.format(rows=f"{new} UNION ALL {old}")}
    ELSE  -- TRUNCATE: the base table's writers are locked out, so nothing else writes these now
        TRUNCATE {tables};
    END IF;
    RETURN NULL;
END $$"""


def _triggers(table: str, function: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_tally_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_tally_update AFTER UPDATE ON {table}"
        f" REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_tally_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_tally_truncate AFTER TRUNCATE ON {table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


_BACKFILL_PARTICIPANTS = """
INSERT INTO participant_tallies (partnership_id, contract_id, enrolled, exited)
SELECT partnership_id, contract_id, count(*), count(exit_date)
FROM participants
GROUP BY partnership_id, contract_id
"""

_BACKFILL_CLAIMS = """
INSERT INTO claim_tallies
    (partnership_id, contract_id, contract_version_id, outcome_code, month, status, currency, claims, payable)
SELECT partnership_id, contract_id, claimed_contract_version_id, outcome_code,
       to_char(achievement_date, 'YYYY-MM'), status, currency, count(*), coalesce(sum(payable), 0)
FROM outcome_claims
WHERE status <> 'rejected'
GROUP BY partnership_id, contract_id, claimed_contract_version_id, outcome_code,
         to_char(achievement_date, 'YYYY-MM'), status, currency
"""


def upgrade() -> None:
    op.create_table(
        "claim_tallies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("contract_version_id", sa.Uuid(), nullable=False),
        sa.Column("outcome_code", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("claims", sa.BigInteger(), nullable=False),
        sa.Column("payable", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_tallies")),
        sa.UniqueConstraint(
            "partnership_id",
            "contract_id",
            "contract_version_id",
            "outcome_code",
            "month",
            "status",
            "currency",
            name="uq_claim_tallies_key",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "claim_tally_deltas",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("contract_version_id", sa.Uuid(), nullable=False),
        sa.Column("outcome_code", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("claims", sa.BigInteger(), nullable=False),
        sa.Column("payable", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_tally_deltas")),
    )
    op.create_index(
        "ix_claim_tally_deltas_partnership_id", "claim_tally_deltas", ["partnership_id"], unique=False
    )
    op.create_table(
        "participant_tallies",
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("enrolled", sa.BigInteger(), nullable=False),
        sa.Column("exited", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partnership_id", "contract_id", name=op.f("pk_participant_tallies")),
    )
    op.create_table(
        "participant_tally_deltas",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("enrolled", sa.BigInteger(), nullable=False),
        sa.Column("exited", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant_tally_deltas")),
    )
    op.create_index(
        op.f("ix_participant_tally_deltas_partnership_id"),
        "participant_tally_deltas",
        ["partnership_id"],
        unique=False,
    )
    op.execute("LOCK TABLE participants, outcome_claims IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        _function(
            "participant_tallies_record",
            _PARTICIPANT_ROWS,
            _PARTICIPANT_DELTAS,
            "participant_tallies, participant_tally_deltas",
        )
    )
    op.execute(
        _function("claim_tallies_record", _CLAIM_ROWS, _CLAIM_DELTAS, "claim_tallies, claim_tally_deltas")
    )
    for statement in [
        *_triggers("participants", "participant_tallies_record"),
        *_triggers("outcome_claims", "claim_tallies_record"),
    ]:
        op.execute(statement)
    op.execute(_BACKFILL_PARTICIPANTS)
    op.execute(_BACKFILL_CLAIMS)


def downgrade() -> None:
    for table in ("outcome_claims", "participants"):
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER {table}_tally_{event} ON {table}")
    op.execute("DROP FUNCTION claim_tallies_record()")
    op.execute("DROP FUNCTION participant_tallies_record()")
    op.drop_index(op.f("ix_participant_tally_deltas_partnership_id"), table_name="participant_tally_deltas")
    op.drop_table("participant_tally_deltas")
    op.drop_table("participant_tallies")
    op.drop_index("ix_claim_tally_deltas_partnership_id", table_name="claim_tally_deltas")
    op.drop_table("claim_tally_deltas")
    op.drop_table("claim_tallies")
