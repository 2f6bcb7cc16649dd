"""Small-cell suppression in the outcome service, through its public API, role by role: investors,
advisers, observers, an investor's machine client, the operator and a payer without residents (a fund)
read every count of the aggregates (and their export, a statement's totals and `statement.summarised`)
under the partnership's threshold;
the provider, the evaluator and the paying municipalities read them exactly. Changing the threshold at
the registry changes the next read (within the registry cache's 5 s).

The partnership: 9 participants enrolled (1 exited), 7 job starts claimed in one month, 6 verified, 1
pending; one statement for the first payer, issued."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.identifiers import synthetic_cpr
from services.outcomes.statements import small_cells
from tests.actors import add_membership, create_organisation, user_actor
from tests.gateway.support import gid, gql
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
    quarter,
    whole_ledger,
)

ENROLLED = TODAY - timedelta(days=400)
JOB = ENROLLED + timedelta(days=30)
MONTH = JOB.strftime("%Y-%m")


@dataclass(frozen=True)
class World:
    cast: Cast
    contract_id: UUID
    statement_id: str
    fund: Actor  # an outcome payer without residents (a national fund): no person-level rights


@pytest.fixture(scope="module")
async def world(platform: Platform, shared_cast: Cast) -> World:
    cast = shared_cast
    organisation = await create_organisation(
        platform, "outcome_funder", "Udfaldsfonden", identifier=f"GB-GOR-EA{secrets.randbelow(9000) + 1000}"
    )
    await add_membership(platform, cast.partnership_id, organisation["id"], "outcome_payer")
    fund = await user_actor(platform, organisation, "signatory", "fund-signatory")
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
        code = cast.payer_a.municipality_code
        assert code is not None
        people = [
            await enrol(
                outcomes,
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(300 + n),
                municipality_code=code,
                enrolment_date=ENROLLED,
            )
            for n in range(9)
        ]
        for person in people:
            await confirm(outcomes, cast.payer_a, person["id"])
        check(
            await outcomes.post(
                f"/v1/participants/{people[8]['id']}/exit",
                json={"exit_date": (TODAY - timedelta(days=5)).isoformat(), "reason": "Moved abroad"},
                headers={**cast.provider.headers, **key()},
            ),
            200,
        )
        jobs = [await claim(outcomes, cast.provider, p["id"], "job_start", JOB) for p in people[:7]]
        for job in jobs[:6]:
            await decide(outcomes, cast.payer_a, job["id"], "verified")
        start, end = quarter(TODAY)
        statement = check(
            await outcomes.post(
                "/v1/payment-statements",
                json={
                    "contract_id": str(contract_id),
                    "payer_organisation_id": str(cast.payer_a.organisation_id),
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                },
                headers={**cast.provider.headers, **key()},
            ),
            201,
        )
        check(
            await outcomes.post(
                f"/v1/payment-statements/{statement['id']}/issue",
                headers={**cast.provider.headers, **key(), "If-Match": f'"{statement["version"]}"'},
            ),
            200,
        )
    return World(cast, contract_id, statement["id"], fund)


def _under_the_rule(world: World) -> dict[str, Actor]:
    cast = world.cast
    return {
        "investor": cast.investor,
        "adviser": cast.adviser,
        "observer": cast.observer,
        "investor_machine": cast.investor_machine,
        "operator": cast.operator,
        "fund": world.fund,
    }


def _exact(cast: Cast) -> dict[str, Actor]:
    return {
        "provider": cast.provider,
        "evaluator": cast.evaluator,
        "payer_a": cast.payer_a,
        "payer_b": cast.payer_b,
    }


async def _aggregates(outcomes: httpx.AsyncClient, world: World, actor: Actor) -> dict[str, Any]:
    url = f"/v1/partnerships/{world.cast.partnership_id}/outcome-aggregates"
    return dict(check(await outcomes.get(url, headers=actor.headers), 200))


async def test_readers_without_person_level_rights_see_small_counts_withheld_and_large_ones_exactly(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    for who, actor in _under_the_rule(world).items():
        read = await _aggregates(outcomes, world, actor)
        assert read["small_cell_threshold"] == 5, who
        # 9 enrolled is above 5; 1 exited is not (and would leave 8 active: no matter).
        assert (read["enrolled"], read["exited"], read["suppressed"]) == (9, None, ["exited"]), who
        cells = {(m["outcome_code"], m["month"]): m for m in read["verified_outcomes"]}
        assert cells["job_start", MONTH] == {
            "outcome_code": "job_start",
            "month": MONTH,
            "verified": 6,
            "value": "150000.00",
            "suppressed": [],
        }, who
        # Every other outcome and month of the term is listed, withheld, zero or not.
        others = [m for k, m in cells.items() if k != ("job_start", MONTH)]
        assert len(others) > 36, who
        assert all(m["verified"] is None and m["value"] is None for m in others), who
        assert all(m["suppressed"] == ["verified", "value"] for m in others), who
        (contract,) = read["contracts"]
        # One pending claim is withheld with its value; what was earned sums withheld (zero) cells too,
        # so it and the remaining cap are withheld; the cap is the terms'.
        assert contract["pending_claims"] is None, who
        assert contract["pending_value"] is None, who
        assert contract["earned"] is None, who
        assert contract["remaining_cap"] is None, who
        assert contract["contract_cap"] == "500000.00", who
        assert contract["suppressed"] == ["earned", "pending_claims", "pending_value", "remaining_cap"], who


async def test_the_provider_the_evaluator_and_the_payers_read_exact_counts(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    for who, actor in _exact(world.cast).items():
        read = await _aggregates(outcomes, world, actor)
        assert read["small_cell_threshold"] is None, who
        assert (read["enrolled"], read["exited"], read["suppressed"]) == (9, 1, []), who
        assert read["verified_outcomes"] == [
            {
                "outcome_code": "job_start",
                "month": MONTH,
                "verified": 6,
                "value": "150000.00",
                "suppressed": [],
            }
        ], who
        (contract,) = read["contracts"]
        assert (contract["pending_claims"], contract["pending_value"], contract["earned"]) == (
            1,
            "25000.00",
            "150000.00",
        ), who
        assert contract["suppressed"] == [], who


async def test_the_export_withholds_what_the_read_withholds(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    url = f"/v1/partnerships/{world.cast.partnership_id}/outcome-aggregates/export"
    for actor in (world.cast.investor, world.cast.observer):
        plain = await outcomes.get(url, params={"format": "csv"}, headers=actor.headers)
        assert plain.status_code == 200, plain.text
        rows = {
            (r["outcome_code"], r["month"]): r
            for r in csv.DictReader(io.StringIO(plain.text.lstrip("\ufeff")))
        }
        assert (rows["job_start", MONTH]["verified"], rows["job_start", MONTH]["suppressed"]) == ("6", "")
        small = [r for k, r in rows.items() if k != ("job_start", MONTH)]
        assert all((r["verified"], r["value"], r["suppressed"]) == ("", "", "verified value") for r in small)
        per_contract = await outcomes.get(
            url, params={"format": "csv", "table": "contracts"}, headers=actor.headers
        )
        (row,) = csv.DictReader(io.StringIO(per_contract.text.lstrip("\ufeff")))
        assert (row["earned"], row["pending_claims"], row["contract_cap"]) == ("", "", "500000.00")
        assert row["suppressed"] == "earned pending_claims pending_value remaining_cap"


async def test_statement_totals_withhold_small_line_counts_and_the_amounts_they_betray(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    url = f"/v1/payment-statements/{world.statement_id}"
    exact = check(await outcomes.get(url, headers=world.cast.provider.headers), 200)
    (row,) = exact["outcomes"]
    assert (row["claim_lines"], row["adjustment_lines"], row["suppressed"]) == (6, 0, [])
    assert exact["total"] == row["amount"]
    assert exact["small_cell_threshold"] is None
    for who, actor in _under_the_rule(world).items():
        if who in ("operator", "fund"):
            continue  # the operator reads no statement; a payer only its own
        read = check(await outcomes.get(url, headers=actor.headers), 200)
        (totals,) = read["outcomes"]
        # 6 claim lines are shown; 0 adjustments are a count like any other, withheld, and the amounts
        # mix both, so they and the statement's totals are withheld; tranches (none here) would show.
        assert (totals["claim_lines"], totals["adjustment_lines"]) == (6, None), who
        assert (totals["tariff_share"], totals["cut_share"], totals["amount"]) == (None, None, None), who
        assert totals["suppressed"] == ["adjustment_lines", "tariff_share", "cut_share", "amount"], who
        assert (read["total"], read["total_tariff"], read["total_cut"]) == (None, None, None), who
        assert read["suppressed"] == ["total_tariff", "total_cut", "total"], who
        assert read["small_cell_threshold"] == 5, who
        listed = check(
            await outcomes.get(
                "/v1/payment-statements", params={"ids": world.statement_id}, headers=actor.headers
            ),
            200,
        )
        assert listed["items"][0]["outcomes"] == read["outcomes"], who


async def test_statement_summarised_publishes_its_counts_under_the_rule_for_every_partner(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    for actor in (world.cast.investor, world.cast.provider):
        events = await whole_ledger(outcomes, actor, world.cast.partnership_id)
        (summary,) = [e["event"] for e in events if e["event"]["type"] == "dk.effekt.statement.summarised"]
        data: Any = summary["data"]
        assert data["small_cell_threshold"] == 5
        assert data["outcomes"] == [
            {
                "outcome_code": "job_start",
                "kind": "claim",
                "lines": 6,
                "amount": data["total"],
                "suppressed": [],
            }
        ]
        assert Decimal(data["total"]) > 0
        assert (data["enrolled"], data["exited"]) == (9, None)
        assert data["remaining_cap"] is None  # it would give back what was earned
        assert data["contract_cap"] == "500000.00"
        assert data["suppressed"] == ["exited", "remaining_cap"]


async def test_a_threshold_changed_at_the_registry_changes_the_next_read(
    contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, world: World
) -> None:
    url = f"/v1/partnerships/{world.cast.partnership_id}/disclosure"
    read = await contracts.get(url, headers=world.cast.payer_a.headers)
    assert read.status_code == 200, read.text
    changed = await contracts.patch(
        url,
        json={"small_cell_threshold": 6, "reason": "Six job starts in one month identify people here"},
        headers={**world.cast.payer_a.headers, **key(), "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    started = time.monotonic()
    while (answer := await _aggregates(outcomes, world, world.cast.investor))["small_cell_threshold"] != 6:
        assert time.monotonic() - started < 7, "the registry's threshold was cached past its 5 s"
        await asyncio.sleep(0.25)
    cells = {(m["outcome_code"], m["month"]): m for m in answer["verified_outcomes"]}
    assert cells["job_start", MONTH]["verified"] is None  # 6 is no longer above the threshold
    assert answer["enrolled"] == 9
    statement = check(
        await outcomes.get(
            f"/v1/payment-statements/{world.statement_id}", headers=world.cast.investor.headers
        ),
        200,
    )
    assert statement["outcomes"][0]["claim_lines"] is None
    exact = await _aggregates(outcomes, world, world.cast.provider)
    assert exact["verified_outcomes"][0]["verified"] == 6


async def test_the_gateway_summary_carries_the_withheld_counts_and_their_reasons(
    gateway: httpx.AsyncClient, world: World
) -> None:
    query = """query($id: ID!) { partnership(id: $id) { outcomeSummary {
      smallCellThreshold enrolled exited suppressed
      verifiedOutcomes { outcomeCode month verified value suppressed }
      contracts { earned pendingClaims pendingValue contractCap remainingCap suppressed } } } }"""
    variables = {"id": gid("Partnership", world.cast.partnership_id)}
    body = await gql(gateway, world.cast.investor, query, variables)
    summary = body["data"]["partnership"]["outcomeSummary"]
    assert summary["smallCellThreshold"] >= 5
    assert (summary["enrolled"], summary["exited"], summary["suppressed"]) == (9, None, ["exited"])
    (contract,) = summary["contracts"]
    assert (contract["earned"], contract["pendingClaims"], contract["contractCap"]) == (
        None,
        None,
        "500000.00",
    )
    assert contract["suppressed"] == ["earned", "pendingClaims", "pendingValue", "remainingCap"]
    body = await gql(gateway, world.cast.provider, query, variables)
    summary = body["data"]["partnership"]["outcomeSummary"]
    assert (summary["smallCellThreshold"], summary["enrolled"], summary["exited"]) == (None, 9, 1)
    assert summary["verifiedOutcomes"] == [
        {"outcomeCode": "job_start", "month": MONTH, "verified": 6, "value": "150000.00", "suppressed": []}
    ]


def test_an_audits_amounts_go_with_its_clawback_count_and_the_statement_totals_with_them() -> None:
    def audit(lines: int) -> dict[str, Any]:
        clawed = Decimal("-25000.00") * lines
        return {
            "audit_id": UUID(int=lines),
            "clawback_lines": lines,
            "clawed_back": clawed,
            "extrapolated": Decimal("-1000.00"),
            "amount": clawed - Decimal("1000.00"),
        }

    rows, complete = small_cells.statement_audits([audit(6)], 5)
    assert complete
    assert rows == [{**audit(6), "suppressed": []}]
    rows, complete = small_cells.statement_audits([audit(6), audit(5)], 5)
    assert not complete
    withheld = ["clawback_lines", "clawed_back", "extrapolated", "amount"]
    assert rows[1] == {"audit_id": UUID(int=5), **dict.fromkeys(withheld), "suppressed": withheld}
    assert small_cells.statement_audits([], 5) == ([], True)


def test_an_audit_read_withholds_its_small_counts_and_what_they_give_back() -> None:
    working = {"population_claims": 10, "sampled_claims": 3, "invalid_claims": 1, "unsampled_claims": 7}
    assert small_cells.audit(10, None, 5) == {"small_cell_threshold": 5, "suppressed": []}
    withheld = small_cells.audit(10, working, 5)
    assert withheld["suppressed"] == ["clawed_back", "extrapolated", "working"]
    assert small_cells.audit(4, None, 3)["suppressed"] == []
    assert small_cells.audit(3, None, 3)["suppressed"] == [
        "population_claims",
        "population_value",
        "sample_size",
    ]
    large = {"population_claims": 40, "sampled_claims": 20, "invalid_claims": 8, "unsampled_claims": 20}
    assert small_cells.audit(40, large, 5)["suppressed"] == []
    assert small_cells.audit(40, large | {"invalid_claims": 0}, 5)["suppressed"] == [
        "clawed_back",
        "extrapolated",
        "working",
    ]
