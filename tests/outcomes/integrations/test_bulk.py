"""Bulk import: per-line results for good, duplicate and bad lines, and a resent file changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import v2_terms, window
from tests.outcomes.integrations.support import ndjson, post_bulk
from tests.outcomes.support import TODAY, active_contract, confirm, decide, employment_terms, enrol
from tests.outcomes.test_privacy import outcomes_dsn


async def ledger_state(platform: Platform, cast: Cast) -> tuple[int, int]:
    connection = await asyncpg.connect(outcomes_dsn(platform))
    try:
        participants = await connection.fetchval(
            "SELECT count(*) FROM participants WHERE partnership_id = $1", cast.partnership_id
        )
        head = await connection.fetchval(
            "SELECT last_sequence FROM ledger_heads WHERE partnership_id = $1", cast.partnership_id
        )
    finally:
        await connection.close()
    return participants, head or 0


async def test_a_bulk_file_gets_a_result_per_line_and_resending_it_changes_nothing(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    enrolled = (TODAY - timedelta(days=20)).isoformat()

    def enrolment(ref: str, n: int, **extra: Any) -> str:
        line = {
            "kind": "enrolment",
            "external_reference": ref,
            "contract_id": str(contract_id),
            "cpr": synthetic_cpr(n),
            "municipality_code": "657",
            "enrolment_date": enrolled,
        }
        return json.dumps({**line, **extra})

    good = [enrolment(f"ref-{n}", n) for n in range(20)]
    lines = [
        *good,
        good[3],  # the same line again: a duplicate
        enrolment("ref-5", 99),  # a reference reused for other content
        "{not json",
        json.dumps({"kind": "teleport", "external_reference": "x"}),
        enrolment("ref-bad-code", 50, municipality_code="65"),
        enrolment("ref-bad-cpr", 51, cpr="3213901234"),
        "",
        enrolment("ref-nul", 52, cohort="spring\u0000"),  # PostgreSQL text cannot hold NUL
    ]
    results = await post_bulk(outcomes, cast, "\n".join(lines))
    by_line = {r["line"]: r for r in results}
    assert len(results) == 27
    assert [by_line[n]["result"] for n in range(1, 21)] == ["accepted"] * 20
    assert by_line[21]["result"] == "duplicate"
    assert by_line[21]["id"] == by_line[4]["id"]
    assert by_line[22]["result"] == "error"
    assert "external_reference" in by_line[22]["reason"]
    assert [by_line[n]["result"] for n in range(23, 27)] == ["error"] * 4
    assert by_line[25]["reason"].startswith("municipality_code")
    assert by_line[26]["code"] == "invalid-cpr"
    assert by_line[28] == {
        "line": 28,
        "external_reference": "ref-nul",
        "result": "error",
        "reason": "cohort: Value error, must not contain NUL characters",
    }
    before = await ledger_state(platform, cast)
    assert before[0] == 20

    again = await post_bulk(outcomes, cast, "\n".join(lines))
    assert [r["result"] for r in again[:21]] == ["duplicate"] * 21
    assert [r["id"] for r in again[:20]] == [by_line[n]["id"] for n in range(1, 21)]
    assert await ledger_state(platform, cast) == before

    # Eligibility by CSV for two of them; a CSV resend is a duplicate too.
    csv_body = "kind,external_reference,participant_id\n" + "".join(
        f"eligibility,elig-{n},{by_line[n]['id']}\n" for n in (1, 2)
    )
    confirmed = await post_bulk(outcomes, cast, csv_body, "text/csv")
    assert [r["result"] for r in confirmed] == ["error", "error"]  # the provider may not confirm
    assert confirmed[0]["code"] == "not-a-partner"
    payer = await outcomes.post(
        f"/v1/partnerships/{cast.partnership_id}/bulk-imports",
        content=csv_body.encode(),
        headers={**cast.payer_a.headers, "Content-Type": "text/csv"},
    )
    assert [json.loads(x)["result"] for x in payer.text.splitlines()] == ["accepted", "accepted"]
    payer_again = await outcomes.post(
        f"/v1/partnerships/{cast.partnership_id}/bulk-imports",
        content=csv_body.encode(),
        headers={**cast.payer_a.headers, "Content-Type": "text/csv"},
    )
    assert [json.loads(x)["result"] for x in payer_again.text.splitlines()] == ["duplicate", "duplicate"]


async def test_bulk_refuses_outsiders_and_unknown_media_types(
    cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    path = f"/v1/partnerships/{cast.partnership_id}/bulk-imports"
    outsider = await outcomes.post(
        path, content=b"{}", headers={**cast.outsider.headers, "Content-Type": "application/x-ndjson"}
    )
    assert outsider.status_code == 403
    xml = await outcomes.post(
        path, content=b"<a/>", headers={**cast.provider.headers, "Content-Type": "text/xml"}
    )
    assert xml.status_code == 415


async def test_partners_without_the_role_change_nothing_in_bulk(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    enrolled = (TODAY - timedelta(days=40)).isoformat()
    enrolment = {
        "kind": "enrolment",
        "contract_id": str(contract_id),
        "municipality_code": "657",
        "enrolment_date": enrolled,
    }
    (person,) = await post_bulk(
        outcomes, cast, ndjson([{**enrolment, "external_reference": "own", "cpr": synthetic_cpr(700)}])
    )
    before = await ledger_state(platform, cast)
    # Roles that write no line kind are refused the file itself, before a line is read.
    for actor in (cast.investor, cast.adviser):
        refused = await outcomes.post(
            f"/v1/partnerships/{cast.partnership_id}/bulk-imports",
            content=ndjson([{**enrolment, "external_reference": "x", "cpr": synthetic_cpr(701)}]).encode(),
            headers={**actor.headers, "Content-Type": "application/x-ndjson"},
        )
        assert refused.status_code == 403, (actor.partner_type, refused.text)
        assert refused.json()["code"] == "not-a-partner"
    # The rest are refused line by line, as each single-row operation would refuse them.
    for actor in (cast.evaluator, cast.payer_b):
        tag = actor.partner_type + str(actor.organisation_id)[:4]
        results = await post_bulk(
            outcomes,
            cast,
            ndjson(
                [
                    {**enrolment, "external_reference": f"{tag}-e", "cpr": synthetic_cpr(701)},
                    {"kind": "eligibility", "external_reference": f"{tag}-c", "participant_id": person["id"]},
                    {
                        "kind": "claim",
                        "external_reference": f"{tag}-o",
                        "participant_id": person["id"],
                        "outcome_code": "job_start",
                        "achievement_date": TODAY.isoformat(),
                        "evidence_reference": "none",
                    },
                ]
            ),
            actor=actor,
        )
        assert [r["result"] for r in results] == ["error"] * 3, (actor.partner_type, results)
        assert {r["code"] for r in results} <= {"not-a-partner", "participant-not-found"}
    assert await ledger_state(platform, cast) == before


async def test_claims_decisions_and_disputes_go_in_bulk_too(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    enrolled, achieved = TODAY - timedelta(days=60), TODAY - timedelta(days=10)
    people = await post_bulk(
        outcomes,
        cast,
        ndjson(
            [
                {
                    "kind": "enrolment",
                    "external_reference": f"p-{n}",
                    "contract_id": str(contract_id),
                    "cpr": synthetic_cpr(300 + n),
                    "municipality_code": "657",
                    "enrolment_date": enrolled.isoformat(),
                }
                for n in range(3)
            ]
        ),
    )
    ids = [r["id"] for r in people]
    confirmations = await post_bulk(
        outcomes,
        cast,
        ndjson(
            [
                {"kind": "eligibility", "external_reference": f"e-{n}", "participant_id": p}
                for n, p in enumerate(ids)
            ]
        ),
        actor=cast.payer_a,
    )
    assert [r["result"] for r in confirmations] == ["accepted"] * 3

    claim_lines = [
        {
            "kind": "claim",
            "external_reference": f"c-{n}",
            "participant_id": p,
            "outcome_code": "job_start",
            "achievement_date": achieved.isoformat(),
            "evidence_reference": f"eIndkomst {n}",
        }
        for n, p in enumerate(ids)
    ]
    too_early = {**claim_lines[0], "external_reference": "c-early", "achievement_date": "2000-01-01"}
    claimed = await post_bulk(outcomes, cast, ndjson([*claim_lines, too_early]))
    assert [r["result"] for r in claimed] == ["accepted", "accepted", "accepted", "error"]
    assert claimed[3]["code"] == "achievement-before-enrolment"
    claim_ids = [r["id"] for r in claimed[:3]]

    # The provider may not decide its own claims; the paying municipality may.
    decisions = [
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
            "reason": "no payslip",
        },
        {
            "kind": "verification",
            "external_reference": "v-2",
            "claim_id": claim_ids[2],
            "decision": "rejected",
        },
    ]
    own = await post_bulk(outcomes, cast, ndjson(decisions[:1]))
    assert own[0]["result"] == "error"
    decided = await post_bulk(outcomes, cast, ndjson(decisions), actor=cast.payer_a)
    assert [r["result"] for r in decided] == ["accepted", "accepted", "error"]
    assert "reason" in decided[2]["reason"]

    disputes = [
        {
            "kind": "dispute",
            "external_reference": "d-1",
            "claim_id": claim_ids[1],
            "reason": "payslip attached",
        },
        {
            "kind": "dispute",
            "external_reference": "d-0",
            "claim_id": claim_ids[0],
            "reason": "verified already",
        },
    ]
    disputed = await post_bulk(outcomes, cast, ndjson(disputes))
    assert [r["result"] for r in disputed] == ["accepted", "error"]
    assert disputed[1]["code"] == "invalid-claim-transition"

    statuses = {}
    for claim_id in claim_ids:
        response = await outcomes.get(f"/v1/outcome-claims/{claim_id}", headers=cast.provider.headers)
        statuses[claim_id] = response.json()["status"]
    assert [statuses[c] for c in claim_ids] == ["verified", "disputed", "claimed"]
    assert (await post_bulk(outcomes, cast, ndjson(disputes)))[0]["result"] == "duplicate"


async def test_a_large_file_streams_in_and_sending_it_twice_at_once_does_each_line_once(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast, max_participants=None))
    lines = 3000
    body = ndjson(
        [
            {
                "kind": "enrolment",
                "external_reference": f"big-{n}",
                "contract_id": str(contract_id),
                "cpr": synthetic_cpr(1000 + n),
                "municipality_code": "657" if n % 2 else "101",
                "enrolment_date": (TODAY - timedelta(days=30)).isoformat(),
            }
            for n in range(lines)
        ]
    ).encode()

    async def chunked() -> Any:  # no Content-Length: the server reads it as it comes
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    async def send() -> list[dict[str, Any]]:
        response = await outcomes.post(
            f"/v1/partnerships/{cast.partnership_id}/bulk-imports",
            content=chunked(),
            headers={**cast.provider.headers, "Content-Type": "application/x-ndjson"},
            timeout=300,
        )
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines()]

    first, second = await asyncio.gather(send(), send())
    for results in (first, second):
        assert [r["line"] for r in results] == list(range(1, lines + 1))
        assert {r["result"] for r in results} <= {"accepted", "duplicate"}
    for a, b in zip(first, second, strict=True):
        assert sorted([a["result"], b["result"]]) == ["accepted", "duplicate"]
        assert a["id"] == b["id"]
    assert await ledger_state(platform, cast) == (lines, lines)
    verification = await outcomes.get(
        f"/v1/partnerships/{cast.partnership_id}/ledger/verification", headers=cast.provider.headers
    )
    assert verification.json()["valid"] is True
    assert verification.json()["checked"] == lines

    # A large import leaves the planner's statistics current: an ANALYZE of its own (counted apart from
    # autovacuum's), run once the answer has been sent.
    connection = await asyncpg.connect(outcomes_dsn(platform))
    try:
        for _ in range(150):
            analysed = await connection.fetchval(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'participants'"
            )
            if analysed:
                break
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    assert analysed, "no ANALYZE after a 3 000-line import"


async def test_an_enrolment_file_saved_by_danish_excel_is_read_like_rfc_4180(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    enrolled = (TODAY - timedelta(days=20)).isoformat()
    header = [
        "kind",
        "external_reference",
        "contract_id",
        "cpr",
        "municipality_code",
        "enrolment_date",
        "cohort",
    ]
    rows = [
        [
            "enrolment",
            f"excel-{n}",
            str(contract_id),
            synthetic_cpr(200 + n),
            "657",
            enrolled,
            "Forår, hold 1",
        ]
        for n in range(3)
    ]
    # "CSV UTF-8 (kommasepareret)" as Excel saves it in Danish: BOM, `;` between cells, CRLF line ends.
    body = "\ufeff" + "".join(";".join(cells) + "\r\n" for cells in [header, *rows])
    results = await post_bulk(outcomes, cast, body, "text/csv")
    assert [(r["line"], r["result"]) for r in results] == [(2, "accepted"), (3, "accepted"), (4, "accepted")]
    listed = await outcomes.get(
        "/v1/participants", params={"ids": ",".join(r["id"] for r in results)}, headers=cast.provider.headers
    )
    assert {p["cohort"] for p in listed.json()["items"]} == {"Forår, hold 1"}


async def test_a_running_import_reports_its_progress_and_its_results_can_be_fetched_again(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    enrolled = (TODAY - timedelta(days=20)).isoformat()
    lines = [
        json.dumps(
            {
                "kind": "enrolment",
                "external_reference": f"progress-{n}",
                "contract_id": str(contract_id),
                "cpr": synthetic_cpr(300 + n),
                "municipality_code": "657",
                "enrolment_date": enrolled,
            }
        )
        + "\n"
        for n in range(250)
    ]
    listing = f"/v1/partnerships/{cast.partnership_id}/bulk-imports"
    first_batch_seen = asyncio.Event()

    async def body() -> Any:
        for line in lines[:201]:  # the 201st line makes the first batch of 200 commit
            yield line.encode()
        await asyncio.wait_for(first_batch_seen.wait(), timeout=60)
        for line in lines[201:]:
            yield line.encode()

    async def watch() -> dict[str, Any]:
        while True:
            found = (await outcomes.get(listing, headers=cast.provider.headers)).json()
            if found and found[0]["lines_done"] >= 200:
                first_batch_seen.set()
                return dict(found[0])
            await asyncio.sleep(0.05)

    upload = outcomes.post(
        listing,
        content=body(),
        headers={**cast.provider.headers, "Content-Type": "application/x-ndjson"},
        timeout=120,
    )
    response, midway = await asyncio.gather(upload, asyncio.wait_for(watch(), timeout=60))
    assert (midway["status"], midway["lines_done"], midway["lines_total"]) == ("running", 200, None)
    assert response.status_code == 200
    location = response.headers["location"]
    assert location == f"/v1/bulk-imports/{midway['id']}"

    finished = (await outcomes.get(location, headers=cast.provider.headers)).json()
    assert (finished["status"], finished["lines_done"], finished["lines_total"]) == ("done", 250, 250)
    assert finished["finished_at"] is not None
    again = await outcomes.get(f"{location}/results", headers=cast.provider.headers)
    assert again.text == response.text  # the same results, in the same order, as first streamed
    rest = await outcomes.get(f"{location}/results", params={"after": 240}, headers=cast.provider.headers)
    assert [json.loads(x)["line"] for x in rest.text.splitlines()] == list(range(241, 251))
    for other in (cast.payer_a, cast.investor):  # only the sending organisation sees its imports
        assert (await outcomes.get(location, headers=other.headers)).status_code == 404
        assert (await outcomes.get(f"{location}/results", headers=other.headers)).status_code == 404


async def test_claim_lines_carry_facts_in_both_csv_dialects_and_are_priced_by_them(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """A job start banded by hours a week (8-16 h: 8 000 kr, from 16 h: 20 000), paid only off benefit.
    RFC 4180 writes 37.5 and TRUE, Danish Excel 15,5 and SAND; a `.` in a Danish file and FALSK are
    refused with the fact named. By hand: 20 000 + 8 000 + 8 000 + 20 000 = 56 000."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "criteria": [{"fact": "off_benefit", "op": "eq", "value": True}],
        "bands": {
            "fact": "hours_per_week",
            "bands": [
                {"code": "part_time", "from": "8", "to": "16", "tariff": "8000.00"},
                {"code": "full_time", "from": "16", "to": None, "tariff": "20000.00"},
            ],
        },
    }
    sole = [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}]
    terms = v2_terms(
        cast.parties, today=TODAY, outcomes=[job_start], caps={}, split={"method": "fixed", "shares": sole}
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    people = []
    for n in range(6):
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(9300 + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=30),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        people.append(person["id"])
    header = [
        "kind",
        "external_reference",
        "participant_id",
        "outcome_code",
        "achievement_date",
        "evidence_reference",
        "facts.hours_per_week",
        "facts.off_benefit",
    ]
    day = (TODAY - timedelta(days=3)).isoformat()

    def row(n: int, hours: str, off: str) -> list[str]:
        return [
            "claim",
            f"facts-{contract_id}-{n}",
            people[n],
            "job_start",
            day,
            "eIndkomst 2026-11",
            hours,
            off,
        ]

    rfc = "".join(",".join(cells) + "\n" for cells in [header, row(0, "37.5", "TRUE"), row(1, "12", "true")])
    excel = "\ufeff" + "".join(
        ";".join(cells) + "\r\n"
        for cells in [
            header,
            row(2, "15,5", "SAND"),
            row(3, "16", "sand"),
            row(4, "16.5", "SAND"),
            row(5, "20", "FALSK"),
        ]
    )
    results = await post_bulk(outcomes, cast, rfc, "text/csv") + await post_bulk(
        outcomes, cast, excel, "text/csv"
    )
    assert [r["result"] for r in results] == ["accepted"] * 4 + ["error"] * 2, results
    assert "hours_per_week" in json.dumps(results[4])
    assert "decimal comma" in json.dumps(results[4])
    assert "off_benefit" in json.dumps(results[5])
    assert all(
        "37.5" not in json.dumps(r) and "15,5" not in json.dumps(r) for r in results
    )  # no facts echoed

    priced = [await decide(outcomes, cast.payer_a, r["id"], "verified") for r in results[:4]]
    assert [(p["band"], p["payable"]) for p in priced] == [
        ("full_time", "20000.00"),
        ("part_time", "8000.00"),
        ("part_time", "8000.00"),
        ("full_time", "20000.00"),
    ]
    assert sum(Decimal(p["payable"]) for p in priced) == Decimal("56000.00")
    assert [p["facts"] for p in priced[:3]] == [
        {"hours_per_week": "37.5", "off_benefit": True},
        {"hours_per_week": "12", "off_benefit": True},
        {"hours_per_week": "15.5", "off_benefit": True},
    ]
