# ruff: noqa: S608 - the SQL names tables and columns from this module's constants, never input
"""Row-level security, the backstop beneath each service's own rules: connected as a service's runtime role
with partnership A named, a query without any partnership condition sees none of partnership B's rows in
any table that holds partnership data, and cannot insert or change them; the runtime roles own nothing and
bypass nothing; a pooled connection forgets a transaction's partnerships when it ends.

Two partnerships are filled through the public API (a contract signed, terminated by one party's consent
and given an attachment; a participant enrolled, confirmed, claimed and verified; a statement drafted; a
webhook subscription with deliveries and attempts; a bulk import; the statement issued and audited), then
read straight from the databases: as the tables' owner (the truth) and as the runtime role (what a
forgotten `WHERE` would return). A transaction spanning both partnerships' callers (a claim group) admits
each caller's rows by its own rule, not by the union the policies then admit.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, make_cast, token_for
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import cohort_outcome, v2_terms, window
from kit.auth import Principal
from kit.db import create_engine, create_sessionmaker, row_security_bypass, system_sessionmaker
from kit.rows import RowContext, bind_context, bind_partnerships, spanning
from services.outcomes.claims.service import lock_admitted
from services.outcomes.models import Participant
from tests.contracts.support import create_contract
from tests.outcomes.integrations.support import ndjson, post_bulk, subscribe
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    enrol,
    key,
    quarter,
)
from tests.platform import free_port

# Each protected table, with how the owner finds a row's partnership (the truth the policies must match).
PARTNERSHIP_OF: dict[str, dict[str, str]] = {
    "contracts": {
        "contracts": "SELECT t.id::text AS key, t.partnership_id FROM contracts t",
        "contract_events": "SELECT t.sequence::text AS key, t.partnership_id FROM contract_events t",
        "contract_versions": "SELECT t.id::text AS key, c.partnership_id FROM contract_versions t "
        "JOIN contracts c ON c.id = t.contract_id",
        "signatures": "SELECT t.id::text AS key, c.partnership_id FROM signatures t "
        "JOIN contract_versions v ON v.id = t.version_id JOIN contracts c ON c.id = v.contract_id",
        "termination_consents": "SELECT t.id::text AS key, c.partnership_id FROM termination_consents t "
        "JOIN contract_versions v ON v.id = t.version_id JOIN contracts c ON c.id = v.contract_id",
        "attachments": "SELECT t.id::text AS key, c.partnership_id FROM attachments t "
        "JOIN contract_versions v ON v.id = t.version_id JOIN contracts c ON c.id = v.contract_id",
        "disclosure_policies": "SELECT t.partnership_id::text AS key, t.partnership_id "
        "FROM disclosure_policies t",
        "disclosure_statuses": "SELECT concat_ws('/', t.partnership_id, t.block) AS key, t.partnership_id "
        "FROM disclosure_statuses t",
        "disclosure_changes": "SELECT t.id::text AS key, t.partnership_id FROM disclosure_changes t",
        "publications": "SELECT t.partnership_id::text AS key, t.partnership_id FROM publications t",
    },
    "outcomes": {
        **{
            table: f"SELECT t.{pk}::text AS key, t.partnership_id FROM {table} t"
            for table, pk in (
                ("participants", "id"),
                ("outcome_claims", "id"),
                ("payment_statements", "id"),
                ("ledger_events", "id"),
                ("ledger_heads", "partnership_id"),
                ("participant_tallies", "contract_id"),
                ("participant_tally_deltas", "id"),
                ("claim_tallies", "id"),
                ("claim_tally_deltas", "id"),
                ("webhook_subscriptions", "id"),
                ("bulk_imports", "id"),
                ("erasures", "id"),
                ("payment_audits", "id"),
                ("cohort_payments", "id"),
            )
        },
        "ledger_disclosures": "SELECT concat_ws('/', t.event_id, t.path) AS key, t.partnership_id "
        "FROM ledger_disclosures t",
        "audit_claims": "SELECT concat_ws('/', t.audit_id, t.claim_id) AS key, t.partnership_id "
        "FROM audit_claims t",
        "payment_lines": "SELECT t.id::text AS key, coalesce(c.partnership_id, "
        "(SELECT s.partnership_id FROM payment_statements s WHERE s.contract_id = t.contract_id LIMIT 1)) "
        "AS partnership_id FROM payment_lines t LEFT JOIN outcome_claims c ON c.id = t.claim_id",
        "cap_counters": "SELECT concat_ws('/', t.contract_id, t.scope, t.key) AS key, "
        "(SELECT p.partnership_id FROM participants p WHERE p.contract_id = t.contract_id LIMIT 1) "
        "AS partnership_id FROM cap_counters t",
        "webhook_deliveries": "SELECT t.id::text AS key, s.partnership_id FROM webhook_deliveries t "
        "JOIN webhook_subscriptions s ON s.id = t.subscription_id",
        "webhook_attempts": "SELECT t.id::text AS key, s.partnership_id FROM webhook_attempts t "
        "JOIN webhook_deliveries d ON d.id = t.delivery_id "
        "JOIN webhook_subscriptions s ON s.id = d.subscription_id",
        "bulk_import_lines": "SELECT concat_ws('/', t.import_id, t.line) AS key, b.partnership_id "
        "FROM bulk_import_lines t JOIN bulk_imports b ON b.id = t.import_id",
    },
}
# The runtime role's own view: the same key, and no condition at all.
RUNTIME_KEY: dict[str, str] = {
    "contracts": "id::text",
    "contract_events": "sequence::text",
    "contract_versions": "id::text",
    "signatures": "id::text",
    "termination_consents": "id::text",
    "attachments": "id::text",
    "ledger_heads": "partnership_id::text",
    "participant_tallies": "contract_id::text",
    "cap_counters": "concat_ws('/', contract_id, scope, key)",
    "bulk_import_lines": "concat_ws('/', import_id, line)",
    "ledger_disclosures": "concat_ws('/', event_id, path)",
    "audit_claims": "concat_ws('/', audit_id, claim_id)",
    "disclosure_policies": "partnership_id::text",
    "disclosure_statuses": "concat_ws('/', partnership_id, block)",
    "publications": "partnership_id::text",
}
# Tables without a policy, each for a reason (the migration's docstring): a new table must be put on one
# side or the other, or the inventory test fails.
UNPROTECTED: dict[str, frozenset[str]] = {
    "contracts": frozenset({"alembic_version", "idempotency_keys"}),
    "outcomes": frozenset(
        {"alembic_version", "idempotency_keys", "bulk_references", "contract_event_cursors"}
    ),
}
APPEND_ONLY = frozenset({"ledger_events"})
# Folded into the tallies within seconds by the compactor (system context): a scene cannot count on rows.
TRANSIENT = frozenset({"participant_tally_deltas", "claim_tally_deltas"})


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _owner(platform: Platform, service: str) -> str:
    return _dsn(platform.database_urls[service])  # type: ignore[attr-defined]


def _runtime(platform: Platform, service: str) -> str:
    return _dsn(platform.runtime_database_urls[service])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Scene:
    a: Cast
    b: Cast


def _audited_terms(cast: Cast) -> dict[str, Any]:
    """Terms v2 with the job start the scene claims, paid by payer A, who may audit what it paid."""
    payer = str(cast.payer_a.organisation_id)
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "1000.00",
    }
    return v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=[job_start],
        caps={"contract_total": "100000.00"},
        split={"method": "fixed", "shares": [{"organisation_id": payer, "percent": "100"}]},
        audits=[{"payer_organisation_id": payer, "sample_size": 1}],
    )


async def _fill(contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, cast: Cast, hook: str) -> None:
    """One of every kind of partnership row, through the API."""
    await subscribe(outcomes, cast.investor, cast.partnership_id, hook)
    draft = await create_contract(contracts, cast)  # attachments are for drafts
    attached = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/attachments",
        params={"filename": "signed.pdf"},
        content=b"%PDF-1.7 signed",
        headers=cast.adviser.headers | key() | {"Content-Type": "application/pdf"},
    )
    assert attached.status_code == 201, attached.text
    contract_id, version_id = await active_contract(contracts, cast, _audited_terms(cast))
    consent = await contracts.post(
        f"/v1/contract-versions/{version_id}/termination",
        json={"effective_on": (TODAY + timedelta(days=400)).isoformat(), "reason": "Programme closing"},
        headers=cast.provider.headers | key(),
    )
    assert consent.status_code == 200, consent.text
    base = 600 + (hash(cast.partnership_id) % 300)
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(base),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=30),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    made = await claim(outcomes, cast.provider, person["id"], "job_start", TODAY - timedelta(days=5))
    await decide(outcomes, cast.payer_a, made["id"], "verified")
    start, end = quarter(TODAY)
    statement = {
        "contract_id": str(contract_id),
        "payer_organisation_id": str(cast.payer_a.organisation_id),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }
    drafted = check(
        await outcomes.post("/v1/payment-statements", json=statement, headers=cast.provider.headers | key()),
        201,
    )
    # A post-payment audit of the issued statement's paid claim: the audit and its population.
    check(
        await outcomes.post(
            f"/v1/payment-statements/{drafted['id']}/issue", headers=cast.provider.headers | key()
        ),
        200,
    )
    check(
        await outcomes.post("/v1/payment-audits", json=statement, headers=cast.payer_a.headers | key()), 201
    )
    line = {
        "kind": "enrolment",
        "external_reference": f"rls-{uuid4().hex[:8]}",
        "contract_id": str(contract_id),
        "cpr": synthetic_cpr(base + 1),
        "municipality_code": "657",
        "enrolment_date": (TODAY - timedelta(days=10)).isoformat(),
    }
    (result,) = await post_bulk(outcomes, cast, ndjson([line]))
    assert result["result"] == "accepted", result
    # Erasure (the data controller's request) and open data: the disclosure statuses, their audit and a
    # publication.
    erased = await outcomes.post(
        "/v1/erasures",
        json={"kind": "participant", "participant_id": person["id"]},
        headers=cast.payer_a.headers | key(),
    )
    assert erased.status_code == 201, erased.text
    url = f"/v1/partnerships/{cast.partnership_id}/disclosure"
    etag = (await contracts.get(url, headers=cast.payer_a.headers)).headers["ETag"]
    changed = await contracts.patch(
        url,
        json={"blocks": {"contract.title": "public"}, "reason": "Agreed"},
        headers=cast.payer_a.headers | {"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    published = await contracts.post(
        f"/v1/partnerships/{cast.partnership_id}/publications", headers=cast.payer_a.headers | key()
    )
    assert published.status_code == 201, published.text
    # A cohort payment (terms v2 `cohort_outcomes`), under a contract of its own that starts when the
    # standard one ends (a partnership's active contracts may not overlap).
    start = TODAY + timedelta(days=2 * 365 + 1)
    end = start + timedelta(days=365)
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    sole = [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}]
    terms = v2_terms(
        cast.parties,
        outcomes=[job_start],
        caps={"contract_total": "100000.00"},
        split={"method": "fixed", "shares": sole},
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        cohort_outcomes=[
            cohort_outcome("savings", cast.payer_b.organisation_id, (start, end), cap="5000.00")
        ],
    )
    cohort_contract, _ = await active_contract(contracts, cast, terms)
    submitted = await outcomes.post(
        "/v1/cohort-payments",
        json={
            "contract_id": str(cohort_contract),
            "cohort_outcome_code": "savings",
            "cohort": "rls",
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "cohort_size": 10,
            "comparison_size": 10,
            "figures": [
                {"code": "benefits_paid", "cohort": "100.00", "comparison": "150.00"},
                {"code": "taxes_paid", "cohort": "20.00", "comparison": "10.00"},
            ],
        },
        headers=cast.evaluator.headers | key(),
    )
    assert submitted.status_code == 201, submitted.text


async def _rows_by_partnership(dsn: str, query: str) -> dict[str, UUID | None]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["key"]: r["partnership_id"] for r in await conn.fetch(query)}
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def scene(platform: Platform, shared_cast: Cast) -> Scene:
    # Webhooks to a port nobody listens on: every delivery fails, so attempts are recorded.
    hook = f"http://127.0.0.1:{free_port()}/hook"
    a, b = shared_cast, await make_cast(platform)
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=60) as outcomes,
    ):
        for cast in (a, b):
            await _fill(contracts, outcomes, cast, hook)
    # Made in the background: webhook attempts by the deliverer, tallies by the compactor (every second,
    # so a loaded machine can leave the last partnership's deltas unfolded for a while).
    for table in ("webhook_attempts", "participant_tallies", "claim_tallies"):
        query = PARTNERSHIP_OF["outcomes"][table]
        for _ in range(300):
            seen = set((await _rows_by_partnership(_owner(platform, "outcomes"), query)).values())
            if {a.partnership_id, b.partnership_id} <= seen:
                break
            await asyncio.sleep(0.2)
    return Scene(a, b)


async def _runtime_connection(platform: Platform, service: str) -> asyncpg.Connection:
    return await asyncpg.connect(_runtime(platform, service))


async def _name(conn: asyncpg.Connection, partnerships: str) -> None:
    await conn.execute("SELECT set_config('effekt.partnerships', $1, true)", partnerships)


@pytest.mark.parametrize("service", ["identity", "contracts", "outcomes"])
async def test_each_service_connects_as_a_runtime_role_that_owns_nothing_and_bypasses_nothing(
    platform: Platform, service: str
) -> None:
    owner = await asyncpg.connect(_owner(platform, service))
    try:
        database = await owner.fetchval("SELECT current_database()")
        # The running service's own pooled connections, not just the URL it was given.
        users = {
            r["usename"]
            for r in await owner.fetch(
                "SELECT usename FROM pg_stat_activity WHERE datname = $1 AND application_name = 'effekt'",
                database,
            )
        }
        role = await owner.fetchrow(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = $1",
            f"{database}_app",
        )
        owned = await owner.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1)",
            f"{database}_app",
        )
        table_owners = {
            r["owner"]
            for r in await owner.fetch(
                "SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    finally:
        await owner.close()
    assert role is not None
    assert users == {role["rolname"]}, users
    assert not role["rolsuper"]
    assert not role["rolbypassrls"]
    assert not role["rolcreaterole"]
    assert not role["rolcreatedb"]
    assert owned == 0
    assert role["rolname"] not in table_owners
    runtime = await _runtime_connection(platform, service)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.execute("CREATE TABLE smuggled (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.execute("UPDATE alembic_version SET version_num = version_num")
    finally:
        await runtime.close()


@pytest.mark.parametrize("service", ["contracts", "outcomes"])
async def test_every_table_holding_partnership_data_has_a_policy(platform: Platform, service: str) -> None:
    conn = await asyncpg.connect(_owner(platform, service))
    try:
        tables = {
            r["relname"]: (r["relrowsecurity"], r["policies"])
            for r in await conn.fetch(
                "SELECT c.relname, c.relrowsecurity, "
                "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        }
        with_partnership = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'partnership_id'"
            )
        }
    finally:
        await conn.close()
    protected = set(PARTNERSHIP_OF[service])
    assert set(tables) == protected | UNPROTECTED[service], "classify every table: protected or not, and why"
    assert with_partnership <= protected
    assert {t for t in protected if tables[t] != (True, 1)} == set()
    assert {t for t in UNPROTECTED[service] if tables[t][0]} == set()


def _per_row_conditions(plan: dict[str, Any]) -> list[str]:
    """Every condition a plan node evaluates per row (its InitPlans, computed once, are other nodes)."""
    found = [
        str(plan[key])
        for key in ("Filter", "Index Cond", "Recheck Cond", "Join Filter", "Hash Cond", "Merge Cond")
        if key in plan
    ]
    for child in plan.get("Plans", []):
        found += _per_row_conditions(child)
    return found


@pytest.mark.parametrize("service", ["contracts", "outcomes"])
async def test_the_policies_read_their_settings_once_per_statement_not_per_row(
    platform: Platform, scene: Scene, service: str
) -> None:
    """Each policy reads `effekt.partnerships` (and `effekt.organisation`) through a scalar subquery, an
    InitPlan, rather than splitting and casting the list for every row; what they admit is the test
    above's. A policy checks what it writes by the same condition it reads by."""
    owner = await asyncpg.connect(_owner(platform, service))
    try:
        policies = await owner.fetch("SELECT tablename, qual, with_check FROM pg_policies")
    finally:
        await owner.close()
    assert {p["tablename"] for p in policies} == set(PARTNERSHIP_OF[service])
    assert [p["tablename"] for p in policies if p["qual"] != p["with_check"]] == []
    runtime = await _runtime_connection(platform, service)
    try:
        for table in PARTNERSHIP_OF[service]:
            async with runtime.transaction():
                await _name(runtime, f"{scene.a.partnership_id},{scene.b.partnership_id}")
                explained = await runtime.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) SELECT * FROM {table}")
            plan = json.loads(explained)[0]["Plan"]
            conditions = _per_row_conditions(plan)
            assert conditions, f"{table}: the policy filters its rows"
            assert [c for c in conditions if "current_setting" in c] == [], table
    finally:
        await runtime.close()


@pytest.mark.parametrize("service", ["contracts", "outcomes"])
async def test_a_query_without_a_partnership_condition_sees_only_the_named_partnerships_rows(
    platform: Platform, scene: Scene, service: str
) -> None:
    a, b = str(scene.a.partnership_id), str(scene.b.partnership_id)
    runtime = await _runtime_connection(platform, service)
    try:
        for table, truth_query in PARTNERSHIP_OF[service].items():
            truth = await _rows_by_partnership(_owner(platform, service), truth_query)
            of_a = {k for k, p in truth.items() if str(p) == a}
            of_b = {k for k, p in truth.items() if str(p) == b}
            if table not in TRANSIENT:
                assert of_a, f"{table}: the scene made rows in partnership A"
                assert of_b, f"{table}: the scene made rows in partnership B"
            column = RUNTIME_KEY.get(table, "id::text")
            unconditioned = f"SELECT {column} AS key FROM {table}"
            views: dict[str, set[str]] = {}
            for named in (a, b, f"{a},{b}", "", "*"):
                async with runtime.transaction():
                    await _name(runtime, named)
                    views[named] = {r["key"] for r in await runtime.fetch(unconditioned)}
            assert views[""] == set(), f"{table}: a transaction naming no partnership saw rows"
            assert views[a] & of_b == set(), f"{table}: A's transaction saw B's rows"
            assert views[b] & of_a == set(), f"{table}: B's transaction saw A's rows"
            if table in TRANSIENT:  # compacted at any moment: only what must never be seen is certain
                continue
            # A's view holds A's rows, and no other partnership's (B's nor any other test's).
            assert of_a <= views[a], table
            assert views[a] <= of_a, f"{table}: A's transaction saw rows of other partnerships"
            assert of_b <= views[b] <= of_b | set(truth) - of_a, table
            assert of_a | of_b <= views[f"{a},{b}"], table
            assert of_a | of_b <= views["*"], table
            # Outside any transaction the setting was never made: nothing either.
            assert await runtime.fetch(unconditioned) == [], table
    finally:
        await runtime.close()


async def _one_row(dsn: str, table: str, truth_query: str, partnership: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        keys = [k for k, p in (await _rows_by_partnership(dsn, truth_query)).items() if str(p) == partnership]
        if not keys and table in TRANSIENT:  # compacted already: a row of B's as a writer would make it
            return {"key": "", "json": json.dumps({"partnership_id": partnership})}
        column = RUNTIME_KEY.get(table, "id::text")
        row = await conn.fetchval(
            f"SELECT row_to_json(t)::text FROM {table} t WHERE {column} = $1 LIMIT 1", keys[0]
        )
        return {"key": keys[0], "json": row}
    finally:
        await conn.close()


@pytest.mark.parametrize("service", ["contracts", "outcomes"])
async def test_partnership_a_cannot_insert_or_change_partnership_bs_rows(
    platform: Platform, scene: Scene, service: str
) -> None:
    a, b = str(scene.a.partnership_id), str(scene.b.partnership_id)
    runtime = await _runtime_connection(platform, service)
    try:
        for table, truth_query in PARTNERSHIP_OF[service].items():
            row = await _one_row(_owner(platform, service), table, truth_query, b)
            column = RUNTIME_KEY.get(table, "id::text")
            # A copy of B's row, inserted by A: refused by the policy's check before any key conflict.
            copy = f"INSERT INTO {table} SELECT * FROM json_populate_record(NULL::{table}, $1::json)"
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await _as(runtime, a, copy, row["json"])
            delete = f"DELETE FROM {table} WHERE {column} = $1"
            if table in APPEND_ONLY:
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await _as(runtime, a, delete, row["key"])
                continue
            update = f"UPDATE {table} SET {_any_column(table)} WHERE {column} = $1"
            assert await _as(runtime, a, update, row["key"]) == "UPDATE 0", table
            assert await _as(runtime, a, delete, row["key"]) == "DELETE 0", table
            # B itself reaches the row, for update (some rows are frozen by triggers, so it only locks it).
            if not row["key"]:
                continue
            lock = f"SELECT 1 FROM {table} WHERE {column} = $1 FOR UPDATE"
            assert await _as(runtime, b, lock, row["key"], roll_back=True) == "SELECT 1", table
        # Moving A's row into B is refused as well: the check applies to the row as written.
        if service == "outcomes":
            move = "UPDATE participants SET partnership_id = $1::uuid"
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await _as(runtime, a, move, b)
    finally:
        await runtime.close()


class _RolledBack(Exception):
    pass


async def _as(
    conn: asyncpg.Connection, partnerships: str, sql: str, *args: Any, roll_back: bool = False
) -> str:
    """`sql` in a transaction naming `partnerships`; its status (`UPDATE 0`), rolled back if asked."""
    status = ""
    try:
        async with conn.transaction():
            await _name(conn, partnerships)
            status = await conn.execute(sql, *args)
            if roll_back:
                raise _RolledBack
    except _RolledBack:
        pass
    return status


def _any_column(table: str) -> str:
    """A harmless assignment (a no-op if it ever ran) for an UPDATE that must find no row."""
    return {
        "ledger_heads": "last_sequence = last_sequence",
        "participant_tallies": "enrolled = enrolled",
        "cap_counters": "paid = paid",
        "bulk_import_lines": "line = line",
        "contract_events": "sequence = sequence",
        "ledger_disclosures": "path = path",
        "disclosure_policies": "partnership_id = partnership_id",
        "disclosure_statuses": "block = block",
        "publications": "partnership_id = partnership_id",
        "audit_claims": "rank = rank",
    }.get(table, "id = id")


async def test_a_pooled_connection_forgets_the_previous_transactions_partnerships(
    platform: Platform, scene: Scene
) -> None:
    """Through the services' own session plumbing (kit/db.py), on a pool of one connection."""
    engine: AsyncEngine = create_engine(
        platform.runtime_database_urls["outcomes"],  # type: ignore[attr-defined]
        pool_size=1,
        max_overflow=0,
    )
    sessions, system = create_sessionmaker(engine), system_sessionmaker(engine)

    async def request_of(partnerships: list[UUID]) -> tuple[int, set[UUID]]:
        """What one request's session sees of participants, with no condition at all."""
        bind_partnerships(partnerships)
        async with sessions() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            seen = set((await session.scalars(select(Participant.partnership_id))).all())
        return int(pid or 0), seen

    try:
        # Each in a task of its own, as each request is: its binding ends with it.
        pid_a, seen_a = await asyncio.create_task(request_of([scene.a.partnership_id]))
        pid_none, seen_none = await asyncio.create_task(request_of([]))
        pid_b, seen_b = await asyncio.create_task(request_of([scene.b.partnership_id]))
        assert pid_a == pid_none == pid_b, "one pooled connection served all three"
        assert seen_a == {scene.a.partnership_id}
        assert seen_none == set()
        assert seen_b == {scene.b.partnership_id}
        # Nor does the setting outlive the transaction on the connection itself.
        async with engine.connect() as conn:
            assert (await conn.scalar(text("SELECT pg_backend_pid()"))) == pid_a
            assert (await conn.scalar(text("SELECT current_setting('effekt.partnerships', true)"))) in (
                "",
                None,
            )
            assert (await conn.scalar(text("SELECT count(*) FROM participants"))) == 0

        # A task that binds nothing (background work that forgot its context) sees nothing; the system
        # sessions, and only they, see every partnership.
        async def unbound() -> int:
            async with sessions() as session:
                return int(await session.scalar(text("SELECT count(*) FROM participants")) or 0)

        loop = asyncio.get_running_loop()
        assert await loop.create_task(unbound(), context=contextvars.Context()) == 0
        async with system() as session:
            everyone = set((await session.scalars(select(Participant.partnership_id))).all())
        assert {scene.a.partnership_id, scene.b.partnership_id} <= everyone
    finally:
        await engine.dispose()


def _caller(cast: Cast, role: str, *, municipality_code: str | None = None) -> Principal:
    actor = cast.provider if role == "provider" else cast.payer_b
    return Principal(
        subject=f"{role}-{cast.partnership_id}",
        kind="client",
        organisation_id=actor.organisation_id,
        partner_type=actor.partner_type,
        scopes=frozenset(),
        memberships={cast.partnership_id: frozenset({role})},
        municipality_code=municipality_code,
    )


async def test_a_transaction_spanning_callers_admits_each_participant_by_its_own_callers_rule(
    platform: Platform, scene: Scene
) -> None:
    """Through the services' own session plumbing: the group's context names both partnerships, so a bare
    read sees both; `lock_admitted` still gives each caller only what it would see alone."""
    owner = await asyncpg.connect(_owner(platform, "outcomes"))
    try:
        first = "SELECT id FROM participants WHERE partnership_id = $1 ORDER BY id LIMIT 1"
        mine, theirs = [await owner.fetchval(first, c.partnership_id) for c in (scene.a, scene.b)]
    finally:
        await owner.close()
    a, b = _caller(scene.a, "provider"), _caller(scene.b, "provider")
    elsewhere = _caller(scene.b, "outcome_payer", municipality_code="101")  # B's, not its residents
    engine: AsyncEngine = create_engine(platform.runtime_database_urls["outcomes"])  # type: ignore[attr-defined]
    sessions = create_sessionmaker(engine)

    async def grouped() -> tuple[set[UUID], list[Participant | None]]:
        bind_context(
            spanning([RowContext(str(scene.a.partnership_id)), RowContext(str(scene.b.partnership_id))])
        )
        async with sessions() as session, session.begin():
            seen = set((await session.scalars(select(Participant.partnership_id))).all())
            asked = [(a, theirs), (b, theirs), (a, mine), (elsewhere, theirs), (b, mine)]
            return seen, await lock_admitted(session, asked)

    try:
        seen, admitted = await asyncio.create_task(grouped())
    finally:
        await engine.dispose()
    assert seen == {scene.a.partnership_id, scene.b.partnership_id}  # the policies admit the union
    assert [p.id if p else None for p in admitted] == [None, theirs, mine, None, None]


async def test_an_organisation_reads_its_own_subscriptions_and_imports_and_nothing_else_of_the_partnership(
    platform: Platform, scene: Scene
) -> None:
    """Its webhook subscriptions stay its own after its membership ends (to read them disabled), as its
    bulk imports do: admitted by `effekt.organisation`, which admits no other row of that partnership."""
    b = str(scene.b.partnership_id)
    runtime = await _runtime_connection(platform, "outcomes")
    try:
        async with runtime.transaction():
            await runtime.execute(
                "SELECT set_config('effekt.partnerships', '', true), "
                "set_config('effekt.organisation', $1, true)",
                str(scene.b.investor.organisation_id),
            )
            subscriptions = await runtime.fetch(
                "SELECT partnership_id, organisation_id FROM webhook_subscriptions"
            )
            deliveries = await runtime.fetchval("SELECT count(*) FROM webhook_deliveries")
            others = {
                table: await runtime.fetchval(f"SELECT count(*) FROM {table}")
                for table in (
                    "participants",
                    "outcome_claims",
                    "ledger_events",
                    "payment_statements",
                    "bulk_imports",
                )
            }
    finally:
        await runtime.close()
    assert {(str(r["partnership_id"]), r["organisation_id"]) for r in subscriptions} == {
        (b, scene.b.investor.organisation_id)
    }
    assert deliveries > 0
    # The investor sent no bulk import; the provider did, and it is not the investor's.
    assert others == dict.fromkeys(others, 0)


@pytest.mark.parametrize("service", ["identity", "contracts", "outcomes"])
async def test_the_start_up_check_passes_the_runtime_role_and_names_what_lets_the_owner_bypass(
    platform: Platform, service: str
) -> None:
    """What a service checks before serving (production refuses to serve when anything is named)."""
    runtime = create_engine(platform.runtime_database_urls[service])  # type: ignore[attr-defined]
    owner = create_engine(platform.database_urls[service])  # type: ignore[attr-defined]
    try:
        assert await row_security_bypass(runtime) == []
        reasons = await row_security_bypass(owner)
    finally:
        await runtime.dispose()
        await owner.dispose()
    assert any("is a superuser" in r for r in reasons), reasons
    assert any("of the schema's tables" in r for r in reasons), reasons


async def test_identity_keeps_no_policies_because_it_makes_the_context_for_callers_who_have_none(
    platform: Platform, scene: Scene
) -> None:
    """Identity is the directory the context is made from: the token endpoint, answering a caller who
    is not yet anyone (no token, so no partnerships to name), reads the memberships of every partnership
    its organisation is in and puts them in the token. A policy there would have to admit every
    partnership on that path, and so would bind nothing; identity's tables carry none, and its runtime
    role still owns nothing (the first test)."""
    token = await token_for(platform, scene.a.provider)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert str(scene.a.partnership_id) in {m["partnership_id"] for m in claims["memberships"]}
    conn = await asyncpg.connect(_owner(platform, "identity"))
    try:
        with_policies = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND (c.relrowsecurity OR EXISTS "
            "(SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))"
        )
    finally:
        await conn.close()
    assert with_policies == 0
