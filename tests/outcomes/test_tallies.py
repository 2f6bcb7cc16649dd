"""The partnership aggregates read tallies that statement-level triggers keep (services/outcomes/tallies.py).

They must equal a recount of the partnership's participants and claims after every kind of write (single
endpoints, bulk import, decisions, disputes and their resolution, exits), with the deltas folded in, not
folded in, or partly; under concurrent writers with compaction running; and after the migration backfills
a database that already held data. Holding the compaction lock (as `compaction_paused` does) keeps every
replica's compactor from folding, which is how a test sees the unfolded state.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from effekt.embedded_pg import asyncpg_url
from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.platform import create_databases, drop_databases
from effekt.sandbox.terms import outcome
from services.outcomes.statements import tallies
from tests.outcomes.integrations import support as integrations
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    key,
)
from tests.outcomes.test_privacy import outcomes_dsn

ROOT = Path(__file__).resolve().parents[2]
LOCK_KEY = "hashtextextended('outcomes.tally_compaction', 0)"
ENROLLED = TODAY - timedelta(days=400)
JOB = ENROLLED + timedelta(days=30)
W13 = JOB + timedelta(days=100)
TARIFFS = {
    "job_start": Decimal("25000.00"),
    "employed_13w": Decimal("12345.67"),
    "employed_26w": Decimal("40000.00"),
}

# The same grouping the triggers keep, two ways: from the tallies and deltas, and from the claims themselves.
TALLIED_CLAIMS = """
    SELECT contract_id, contract_version_id, outcome_code, month, status, currency,
           sum(claims)::bigint AS claims, sum(payable) AS payable
    FROM (SELECT * FROM claim_tallies WHERE partnership_id = $1
          UNION ALL SELECT * FROM claim_tally_deltas WHERE partnership_id = $1) AS both_
    GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(claims) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
"""
COUNTED_CLAIMS = """
    SELECT contract_id, claimed_contract_version_id, outcome_code, to_char(achievement_date, 'YYYY-MM'),
           status, currency, count(*) AS claims, coalesce(sum(payable), 0) AS payable
    FROM outcome_claims WHERE partnership_id = $1 AND status <> 'rejected'
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
"""
TALLIED_PARTICIPANTS = """
    SELECT contract_id, sum(enrolled)::bigint, sum(exited)::bigint
    FROM (SELECT contract_id, enrolled, exited FROM participant_tallies WHERE partnership_id = $1
          UNION ALL
          SELECT contract_id, enrolled, exited FROM participant_tally_deltas WHERE partnership_id = $1)
         AS both_
    GROUP BY 1 HAVING sum(enrolled) <> 0 ORDER BY 1
"""
COUNTED_PARTICIPANTS = """
    SELECT contract_id, count(*), count(exit_date) FROM participants WHERE partnership_id = $1
    GROUP BY 1 ORDER BY 1
"""


# --- helpers ----------------------------------------------------------------------------------------------


@asynccontextmanager
async def compaction_paused(platform: Platform) -> AsyncIterator[None]:
    """Hold the compaction lock: every compactor skips its turn, so deltas stay unfolded until the end."""
    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        await conn.execute(f"SELECT pg_advisory_lock({LOCK_KEY})")
        yield
    finally:
        await conn.close()  # ends the session, and with it the lock


async def tally_state(platform: Platform, partnership_id: UUID) -> tuple[int, int]:
    """The partnership's (delta rows, tally rows)."""
    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM claim_tally_deltas WHERE partnership_id = $1)"
            " + (SELECT count(*) FROM participant_tally_deltas WHERE partnership_id = $1),"
            " (SELECT count(*) FROM claim_tallies WHERE partnership_id = $1)"
            " + (SELECT count(*) FROM participant_tallies WHERE partnership_id = $1)",
            partnership_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return row[0], row[1]


async def wait_folded(platform: Platform, partnership_id: UUID) -> None:
    """Wait for the service's own compactor to fold every delta of the partnership."""
    for _ in range(150):
        if (await tally_state(platform, partnership_id))[0] == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the compactor left deltas unfolded for 15 s")


async def counts(conn: asyncpg.Connection, partnership_id: UUID) -> tuple[Any, Any]:
    """(tallied, counted), each for participants and claims."""
    tallied = (
        [tuple(r) for r in await conn.fetch(TALLIED_PARTICIPANTS, partnership_id)],
        [tuple(r) for r in await conn.fetch(TALLIED_CLAIMS, partnership_id)],
    )
    counted = (
        [tuple(r) for r in await conn.fetch(COUNTED_PARTICIPANTS, partnership_id)],
        [tuple(r) for r in await conn.fetch(COUNTED_CLAIMS, partnership_id)],
    )
    return tallied, counted


async def same_snapshot_counts(conn: asyncpg.Connection, partnership_id: UUID) -> tuple[Any, Any]:
    """`counts`, all read in one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await counts(conn, partnership_id)


async def recount(
    platform: Platform,
    partnership_id: UUID,
    caps: dict[UUID, str | None],
    *,
    ended: frozenset[UUID] = frozenset(),
) -> dict[str, Any]:
    """The aggregates as the endpoint answered before tallies: straight from the participants and claims.
    `caps` is each contract's `contract_total`, `ended` the contracts with no version in force today (every
    contract here is in DKK with `TARIFFS`)."""
    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        enrolled, exited = await conn.fetchrow(
            "SELECT count(*), count(exit_date) FROM participants WHERE partnership_id = $1", partnership_id
        )
        verified = await conn.fetch(
            "SELECT outcome_code, to_char(achievement_date, 'YYYY-MM') AS month, count(*) AS n,"
            " sum(payable) AS value FROM outcome_claims WHERE partnership_id = $1 AND status = 'verified'"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            partnership_id,
        )
        contracts: list[dict[str, Any]] = []
        for (contract_id,) in await conn.fetch(
            "SELECT DISTINCT contract_id FROM participants WHERE partnership_id = $1", partnership_id
        ):
            claims = await conn.fetch(
                "SELECT status, outcome_code, payable FROM outcome_claims WHERE contract_id = $1", contract_id
            )
            counter = await conn.fetchrow(
                "SELECT cap, paid FROM cap_counters WHERE contract_id = $1 AND scope = 'contract'",
                contract_id,
            )
            priced = [c["payable"] for c in claims if c["status"] == "verified"]
            pending = [c["outcome_code"] for c in claims if c["status"] in ("claimed", "disputed")]
            earned = sum(priced, Decimal(0))
            currency = "DKK" if priced or pending or counter is not None else None
            cap = remaining = None
            if counter is not None and counter["cap"] is not None:
                cap, remaining = counter["cap"], max(counter["cap"] - counter["paid"], Decimal(0))
            if cap is None and earned == 0 and contract_id not in ended:  # the cap of today's terms
                currency = "DKK"
                cap = remaining = None if caps[contract_id] is None else Decimal(str(caps[contract_id]))
            contracts.append(
                {
                    "contract_id": str(contract_id),
                    "currency": currency,
                    "earned": f"{earned:.2f}",
                    "pending_claims": len(pending),
                    "pending_value": f"{sum((TARIFFS[code] for code in pending), Decimal(0)):.2f}",
                    "contract_cap": None if cap is None else f"{cap:.2f}",
                    "remaining_cap": None if remaining is None else f"{remaining:.2f}",
                    "suppressed": [],
                }
            )
    finally:
        await conn.close()
    return {
        "partnership_id": str(partnership_id),
        "small_cell_threshold": None,  # the provider's exact read
        "enrolled": enrolled,
        "exited": exited,
        "suppressed": [],
        "verified_outcomes": [
            {
                "outcome_code": r["outcome_code"],
                "month": r["month"],
                "verified": r["n"],
                "value": f"{r['value']:.2f}",
                "suppressed": [],
            }
            for r in verified
        ],
        "contracts": sorted(contracts, key=lambda c: c["contract_id"]),
    }


async def assert_exact(
    platform: Platform,
    outcomes: httpx.AsyncClient,
    cast: Cast,
    caps: dict[UUID, str | None],
    *,
    ended: frozenset[UUID] = frozenset(),
) -> dict[str, Any]:
    """The endpoint answers what a recount gives, and the tallies hold exactly the claims' grouping."""
    answer = check(
        await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/outcome-aggregates", headers=cast.provider.headers
        ),
        200,
    )
    assert answer == await recount(platform, cast.partnership_id, caps, ended=ended)
    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        tallied, counted = await same_snapshot_counts(conn, cast.partnership_id)
    finally:
        await conn.close()
    assert tallied == counted
    return dict(answer)


async def post_bulk(
    outcomes: httpx.AsyncClient, cast: Cast, actor: Actor, lines: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every line must be accepted."""
    results = await integrations.post_bulk(outcomes, cast, integrations.ndjson(lines), actor=actor)
    assert [r["result"] for r in results] == ["accepted"] * len(lines), results
    return results


async def dispute(outcomes: httpx.AsyncClient, cast: Cast, claim_id: str) -> None:
    check(
        await outcomes.post(
            f"/v1/outcome-claims/{claim_id}/dispute",
            json={"reason": "The payslip is attached again"},
            headers={**cast.provider.headers, **key()},
        ),
        200,
    )


async def exit_participant(outcomes: httpx.AsyncClient, cast: Cast, participant_id: str) -> None:
    check(
        await outcomes.post(
            f"/v1/participants/{participant_id}/exit",
            json={"exit_date": (TODAY - timedelta(days=5)).isoformat(), "reason": "Moved abroad"},
            headers={**cast.provider.headers, **key()},
        ),
        200,
    )


# --- the aggregates stay exact ------------------------------------------------------------------------------


async def test_aggregates_equal_a_recount_after_every_kind_of_write_folded_or_not(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    # Contract A pays; its 100 000.00 cap runs out, so later verifications price at 0.00. Contract B (an
    # earlier period: one partnership's active contracts may not overlap) only enrolled: it shows in the
    # aggregates through its participants alone, with no currency or cap, as no version is in force today.
    a_terms = employment_terms(
        cast, caps={"per_participant": None, "contract_total": "100000.00", "per_period": None}
    )
    a_terms["start_date"] = (TODAY - timedelta(days=600)).isoformat()
    a, _ = await active_contract(contracts, cast, a_terms)
    b_terms = employment_terms(cast, outcomes=[outcome("job_start", "25000.00")])
    b_terms["end_date"] = (TODAY - timedelta(days=700)).isoformat()
    b, _ = await active_contract(contracts, cast, b_terms)
    caps: dict[UUID, str | None] = {a: "100000.00", b: "500000.00"}
    ended = frozenset({b})

    async with compaction_paused(platform):
        people = [
            await enrol(
                outcomes,
                cast.provider,
                cast,
                a,
                synthetic_cpr(n),
                municipality_code="657",
                enrolment_date=ENROLLED,
            )
            for n in range(8)
        ]
        others = [
            await enrol(
                outcomes,
                cast.provider,
                cast,
                b,
                synthetic_cpr(50 + n),
                municipality_code="791",
                enrolment_date=TODAY - timedelta(days=800),
            )
            for n in range(3)
        ]
        for person in people:
            await confirm(outcomes, cast.payer_a, person["id"])
        await exit_participant(outcomes, cast, people[7]["id"])
        await exit_participant(outcomes, cast, others[0]["id"])
        jobs = [await claim(outcomes, cast.provider, p["id"], "job_start", JOB) for p in people[:7]]
        for job in jobs[:5]:  # the fifth is capped to 0.00: verified, but worth nothing
            await decide(outcomes, cast.payer_a, job["id"], "verified")
        for job in jobs[5:]:
            await decide(outcomes, cast.payer_a, job["id"], "rejected", reason="No payslip")
            await dispute(outcomes, cast, job["id"])
        await decide(
            outcomes, cast.payer_a, jobs[5]["id"], "verified", reason="Found", path="dispute-resolution"
        )
        w13 = [await claim(outcomes, cast.provider, p["id"], "employed_13w", W13) for p in people[:2]]
        await decide(outcomes, cast.payer_a, w13[0]["id"], "verified")

        deltas, folded = await tally_state(platform, cast.partnership_id)
        assert deltas > 0
        assert folded == 0
        first = await assert_exact(platform, outcomes, cast, caps, ended=ended)
    assert (first["enrolled"], first["exited"]) == (11, 2)
    assert [c["pending_claims"] for c in first["contracts"] if c["contract_id"] == str(a)] == [2]
    assert {c["contract_id"] for c in first["contracts"]} == {str(a), str(b)}

    await wait_folded(platform, cast.partnership_id)
    assert (await tally_state(platform, cast.partnership_id))[1] > 0
    assert await assert_exact(platform, outcomes, cast, caps, ended=ended) == first

    # More of everything through bulk import, on top of folded tallies: tallies and deltas both count.
    async with compaction_paused(platform):
        enrolled = await post_bulk(
            outcomes,
            cast,
            cast.provider,
            [
                {
                    "kind": "enrolment",
                    "external_reference": f"e-{n}",
                    "contract_id": str(a),
                    "cpr": synthetic_cpr(100 + n),
                    "municipality_code": "657",
                    "enrolment_date": ENROLLED.isoformat(),
                }
                for n in range(4)
            ],
        )
        ids = [r["id"] for r in enrolled]
        await post_bulk(
            outcomes,
            cast,
            cast.payer_a,
            [
                {"kind": "eligibility", "external_reference": f"c-{n}", "participant_id": p}
                for n, p in enumerate(ids)
            ],
        )
        claimed = await post_bulk(
            outcomes,
            cast,
            cast.provider,
            [
                {
                    "kind": "claim",
                    "external_reference": f"o-{n}",
                    "participant_id": p,
                    "outcome_code": "job_start",
                    "achievement_date": (JOB + timedelta(days=40 * n)).isoformat(),
                    "evidence_reference": "eIndkomst",
                }
                for n, p in enumerate(ids)
            ],
        )
        claim_ids = [r["id"] for r in claimed]
        await post_bulk(
            outcomes,
            cast,
            cast.payer_a,
            [
                {
                    "kind": "verification",
                    "external_reference": "v-0",
                    "claim_id": claim_ids[0],
                    "decision": "verified",
                },
                {
                    "kind": "verification",
                    "external_reference": "v-1",
                    "claim_id": claim_ids[1],
                    "decision": "rejected",
                    "reason": "No payslip",
                },
                {
                    "kind": "verification",
                    "external_reference": "v-2",
                    "claim_id": claim_ids[2],
                    "decision": "rejected",
                    "reason": "No payslip",
                },
            ],
        )
        await post_bulk(
            outcomes,
            cast,
            cast.provider,
            [
                {
                    "kind": "dispute",
                    "external_reference": "d-1",
                    "claim_id": claim_ids[1],
                    "reason": "Attached",
                }
            ],
        )
        await decide(
            outcomes, cast.payer_a, jobs[6]["id"], "rejected", reason="Still none", path="dispute-resolution"
        )
        await exit_participant(outcomes, cast, ids[3])

        deltas, folded = await tally_state(platform, cast.partnership_id)
        assert deltas > 0
        assert folded > 0
        second = await assert_exact(platform, outcomes, cast, caps, ended=ended)
    assert (second["enrolled"], second["exited"]) == (15, 3)
    assert second != first

    await wait_folded(platform, cast.partnership_id)
    assert await assert_exact(platform, outcomes, cast, caps, ended=ended) == second

    # No endpoint deletes participants or claims, but a DELETE must not make the tallies drift either.
    conn = await asyncpg.connect(outcomes_dsn(platform))
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(
            "DELETE FROM outcome_claims WHERE partnership_id = $1 AND status IN ('claimed', 'disputed')",
            cast.partnership_id,
        )
        await conn.execute(
            "DELETE FROM participants p WHERE partnership_id = $1"
            " AND NOT EXISTS (SELECT FROM outcome_claims c WHERE c.participant_id = p.id)",
            cast.partnership_id,
        )
        tallied, counted = await counts(conn, cast.partnership_id)
        assert tallied == counted
        assert counted[0] != []
        await transaction.rollback()
    finally:
        await conn.close()


async def test_concurrent_claims_and_decisions_with_compaction_running_end_exact(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(
        contracts,
        cast,
        employment_terms(
            cast,
            outcomes=[outcome("job_start", "25000.00")],
            caps={"per_participant": None, "contract_total": None, "per_period": None},
        ),
    )
    count = 40
    enrolled = await post_bulk(
        outcomes,
        cast,
        cast.provider,
        [
            {
                "kind": "enrolment",
                "external_reference": f"e-{n}",
                "contract_id": str(contract_id),
                "cpr": synthetic_cpr(200 + n),
                "municipality_code": "657",
                "enrolment_date": ENROLLED.isoformat(),
            }
            for n in range(count)
        ],
    )
    ids = [r["id"] for r in enrolled]
    await post_bulk(
        outcomes,
        cast,
        cast.payer_a,
        [
            {"kind": "eligibility", "external_reference": f"c-{n}", "participant_id": p}
            for n, p in enumerate(ids)
        ],
    )
    engine = create_async_engine(platform.database_urls["outcomes"])  # type: ignore[attr-defined]
    racing = True
    folds = 0
    mismatches: list[Any] = []

    async def compact_all_the_time(engine: AsyncEngine) -> None:
        nonlocal folds
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        while racing:
            async with sessions() as session, session.begin():
                if await tallies.compact(session):
                    folds += 1
            await asyncio.sleep(0.02)

    async def check_snapshots() -> int:
        conn = await asyncpg.connect(outcomes_dsn(platform))
        checked = 0
        try:
            while racing:
                tallied, counted = await same_snapshot_counts(conn, cast.partnership_id)
                if tallied != counted:
                    mismatches.append((tallied, counted))
                checked += 1
        finally:
            await conn.close()
        return checked

    # What the writers have started and finished: every answer read in between must lie within.
    started = {"claim": 0, "verified": 0, "rejected": 0}
    done = {"claim": 0, "verified": 0, "rejected": 0}

    async def read_aggregates() -> int:
        """Read the endpoint throughout: its counts include every write finished before the read began,
        none not yet started when it ended, and money and counts agree."""
        reads = 0
        while racing:
            low_claims, low_verified, high_rejected = done["claim"], done["verified"], started["rejected"]
            answer = check(
                await outcomes.get(
                    f"/v1/partnerships/{cast.partnership_id}/outcome-aggregates",
                    headers=cast.provider.headers,  # exact counts (investors read them under the rule)
                ),
                200,
            )
            verified = sum(month["verified"] for month in answer["verified_outcomes"])
            pending = sum(c["pending_claims"] for c in answer["contracts"])
            earned = sum(Decimal(c["earned"]) for c in answer["contracts"])
            if not (
                low_verified <= verified <= started["verified"]
                and low_claims - high_rejected <= verified + pending <= started["claim"]
                and earned == 25000 * verified
                and (answer["enrolled"], answer["exited"]) == (count, 0)
            ):
                mismatches.append(answer)
            reads += 1
        return reads

    writers = asyncio.Semaphore(8)  # leaves the readers some of the service's pool

    async def claim_and_decide(n: int, participant_id: str) -> None:
        async with writers:
            await claim_then_decide(n, participant_id)

    async def claim_then_decide(n: int, participant_id: str) -> None:
        started["claim"] += 1
        made = await claim(outcomes, cast.provider, participant_id, "job_start", JOB + timedelta(days=n))
        done["claim"] += 1
        decision = "verified" if n % 4 else "rejected" if n % 8 else None
        if decision is not None:
            started[decision] += 1
            reason = "No payslip" if decision == "rejected" else None
            await decide(outcomes, cast.payer_a, made["id"], decision, reason=reason)
            done[decision] += 1

    compactor = asyncio.create_task(compact_all_the_time(engine))
    checker = asyncio.create_task(check_snapshots())
    readers = [asyncio.create_task(read_aggregates()) for _ in range(3)]
    try:
        await asyncio.gather(*(claim_and_decide(n, p) for n, p in enumerate(ids)))
    finally:
        racing = False
        await compactor
        checked, reads = await checker, sum([await reader for reader in readers])
        await engine.dispose()
    assert mismatches == []
    assert checked > 0
    assert reads > 0
    assert folds > 0

    await wait_folded(platform, cast.partnership_id)
    answer = await assert_exact(platform, outcomes, cast, {contract_id: None})
    [totals] = answer["contracts"]
    assert (totals["earned"], totals["pending_claims"]) == ("750000.00", 5)


# --- the migration -----------------------------------------------------------------------------------------

BEFORE = "ed4473d85a9f"  # the revision before the tallies


def alembic(url: str, step: str, revision: str) -> None:
    """`alembic upgrade|downgrade <revision>` in this process, as the service runs it on start-up."""
    config = Config(str(ROOT / "services/outcomes/alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    {"upgrade": command.upgrade, "downgrade": command.downgrade}[step](config, revision)


async def old_totals(conn: asyncpg.Connection, partnership_id: UUID) -> tallies.PartnershipTotals:
    """The totals by the queries the aggregates ran before tallies, over every participant and claim."""
    enrolled, exited = await conn.fetchrow(
        "SELECT count(*), count(exit_date) FROM participants WHERE partnership_id = $1", partnership_id
    )
    verified = await conn.fetch(
        "SELECT outcome_code, to_char(achievement_date, 'YYYY-MM'), count(*), coalesce(sum(payable), 0)"
        " FROM outcome_claims WHERE partnership_id = $1 AND status = 'verified' GROUP BY 1, 2 ORDER BY 1, 2",
        partnership_id,
    )
    earned = await conn.fetch(
        "SELECT contract_id, currency, sum(payable) FROM outcome_claims"
        " WHERE partnership_id = $1 AND status = 'verified' GROUP BY 1, 2",
        partnership_id,
    )
    pending = await conn.fetch(
        "SELECT contract_id, claimed_contract_version_id, outcome_code, count(*) FROM outcome_claims"
        " WHERE partnership_id = $1 AND status IN ('claimed', 'disputed') GROUP BY 1, 2, 3",
        partnership_id,
    )
    contract_ids = await conn.fetch(
        "SELECT contract_id FROM participants WHERE partnership_id = $1", partnership_id
    )
    participants = await conn.fetch(
        "SELECT contract_id, count(*), count(exit_date) FROM participants WHERE partnership_id = $1"
        " GROUP BY 1",
        partnership_id,
    )
    verified_claims = await conn.fetch(
        "SELECT contract_id, outcome_code, to_char(achievement_date, 'YYYY-MM'), count(*) FROM outcome_claims"
        " WHERE partnership_id = $1 AND status = 'verified' GROUP BY 1, 2, 3",
        partnership_id,
    )
    return tallies.PartnershipTotals(
        enrolled=enrolled,
        exited=exited,
        contract_ids={r[0] for r in [*contract_ids, *earned, *pending]},
        verified={(r[0], r[1]): (r[2], r[3]) for r in verified},
        earned={(r[0], r[1]): r[2] for r in earned},
        pending={(r[0], r[1], r[2]): r[3] for r in pending},
        participants={r[0]: (r[1], r[2]) for r in participants},
        verified_claims={(r[0], r[1], r[2]): r[3] for r in verified_claims},
    )


SEED_PARTICIPANTS = """
INSERT INTO participants (id, partnership_id, contract_id, pseudonym, key_version, municipality_code,
    enrolment_date, enrolled_by_organisation_id, exit_date, exit_reason)
SELECT gen_random_uuid(), $1::uuid, CASE WHEN g % 3 = 0 THEN $3::uuid ELSE $2::uuid END,
    md5($1::uuid::text || g), 1, '657', DATE '2025-01-01', gen_random_uuid(),
    CASE WHEN g % 5 = 0 THEN DATE '2026-06-01' END, CASE WHEN g % 5 = 0 THEN 'moved' END
FROM generate_series(1, $4::int) AS g
"""
# Every status, several months, outcome codes and claimed versions; verified claims priced, some at 0.00.
SEED_CLAIMS = """
INSERT INTO outcome_claims (id, partnership_id, contract_id, participant_id, outcome_code, achievement_date,
    evidence_reference, claimant_organisation_id, claimed_by, claimed_contract_version_id, status, disputed,
    priced_contract_version_id, currency, tariff, payable, cut, priced_on, payment_period)
SELECT gen_random_uuid(), p.partnership_id, p.contract_id, p.id, s.code, s.achieved, 'ref', gen_random_uuid(),
    'seed', s.version, s.status, s.status = 'disputed',
    CASE WHEN s.status = 'verified' THEN s.version END,
    CASE WHEN s.status = 'verified' THEN 'DKK' END,
    CASE WHEN s.status = 'verified' THEN 1000 END,
    CASE WHEN s.status = 'verified' THEN s.payable END,
    CASE WHEN s.status = 'verified' THEN 1000 - s.payable END,
    CASE WHEN s.status = 'verified' THEN DATE '2026-06-01' END,
    CASE WHEN s.status = 'verified' THEN '2026-Q2' END
FROM (SELECT *, row_number() OVER (ORDER BY pseudonym) AS n FROM participants WHERE partnership_id = $1) AS p
CROSS JOIN LATERAL (SELECT
    (ARRAY['claimed', 'verified', 'rejected', 'disputed', 'verified'])[1 + p.n % 5] AS status,
    (ARRAY['job_start', 'employed_13w'])[1 + p.n % 2] AS code,
    DATE '2025-02-01' + (p.n % 11)::int * 31 AS achieved,
    CASE WHEN p.n % 7 = 0 THEN $2::uuid ELSE $3::uuid END AS version,
    CASE WHEN p.n % 6 = 0 THEN 0 ELSE 1000 - p.n % 3 END AS payable) AS s
"""


async def test_the_migration_backfills_tallies_that_give_the_old_answer_and_the_downgrade_removes_them(
    pg_server_url: str,
) -> None:
    database = f"effekt_migrations_{secrets.token_hex(3)}_tallies"
    await create_databases(pg_server_url, [database])
    url = asyncpg_url(pg_server_url, database)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    partnerships = [uuid4(), uuid4()]
    try:
        await asyncio.to_thread(alembic, url, "upgrade", BEFORE)
        conn = await asyncpg.connect(dsn)
        try:
            for n, partnership_id in enumerate(partnerships):
                await conn.execute(SEED_PARTICIPANTS, partnership_id, uuid4(), uuid4(), 300 + 50 * n)
                await conn.execute(SEED_CLAIMS, partnership_id, uuid4(), uuid4())
            before = [await old_totals(conn, p) for p in partnerships]
        finally:
            await conn.close()
        assert before[0].verified
        assert before[0].pending
        assert len(before[0].contract_ids) == 2

        await asyncio.to_thread(alembic, url, "upgrade", "head")
        engine = create_async_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        conn = await asyncpg.connect(dsn)
        try:

            async def both_ways(
                partnership_id: UUID,
            ) -> tuple[tallies.PartnershipTotals, tallies.PartnershipTotals]:
                async with sessions() as session:
                    return await tallies.partnership_totals(session, partnership_id), await old_totals(
                        conn, partnership_id
                    )

            for partnership_id, old in zip(partnerships, before, strict=True):
                assert await both_ways(partnership_id) == (old, old)
            assert await conn.fetchval("SELECT count(*) FROM claim_tally_deltas") == 0

            # Set-based writes of each kind, checked unfolded and folded; then TRUNCATE empties the tallies.
            first = partnerships[0]
            await conn.execute(
                "UPDATE outcome_claims SET status = 'rejected'"
                " WHERE partnership_id = $1 AND status = 'disputed'",
                first,
            )
            await conn.execute(
                "UPDATE outcome_claims"
                " SET status = 'verified', currency = 'EUR', payable = 7, tariff = 7, cut = 0"
                " WHERE partnership_id = $1 AND status = 'claimed' AND outcome_code = 'job_start'",
                first,
            )
            await conn.execute(
                "UPDATE participants SET exit_date = DATE '2026-07-01', exit_reason = 'job'"
                " WHERE partnership_id = $1 AND exit_date IS NULL AND contract_id IN"
                " (SELECT contract_id FROM participants WHERE partnership_id = $1 LIMIT 1)",
                first,
            )
            await conn.execute(
                "DELETE FROM outcome_claims WHERE partnership_id = $1 AND outcome_code = 'employed_13w'",
                first,
            )
            for _ in range(2):
                for partnership_id in partnerships:
                    new, old = await both_ways(partnership_id)
                    assert new == old
                async with sessions() as session, session.begin():
                    await tallies.compact(session)
            assert (await both_ways(first))[0] != before[0]
            assert "EUR" in {currency for _, currency in (await both_ways(first))[0].earned}

            await conn.execute("TRUNCATE participants, outcome_claims CASCADE")
            assert await both_ways(first) == (tallies.PartnershipTotals(0, 0, set(), {}, {}, {}),) * 2
            assert await conn.fetchval("SELECT count(*) FROM claim_tallies") == 0
        finally:
            await conn.close()
            await engine.dispose()

        await asyncio.to_thread(alembic, url, "downgrade", BEFORE)
        conn = await asyncpg.connect(dsn)
        try:
            left = await conn.fetch(
                "SELECT relname FROM pg_class WHERE relname LIKE '%tall%'"
                " AND relnamespace = 'public'::regnamespace"
                " UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE '%tallies%'"
                " AND pronamespace = 'public'::regnamespace"
                " UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE '%tally%'"
            )
            assert left == []
            await conn.execute(
                SEED_PARTICIPANTS, partnerships[0], uuid4(), uuid4(), 3
            )  # no trigger left to fail
        finally:
            await conn.close()
    finally:
        await drop_databases(pg_server_url, [database])
