"""A full run of a refugee-employment contract through the HTTP API, against a hand-computed table.

Contract: job start 25 000.00 (verified by the payer or the evaluator), still employed after 13 weeks
12 345.67 and after 26 weeks 40 000.00 (verified by the payer); caps 60 000.00 per participant and
500 000.00 in total; split 60 % Herning (payer A), 40 % Viborg (payer B), rounded per claim to the øre by
largest remainder. Participants 1-12 live in Herning (657), 13-20 in Viborg (791).

Hand computation:
- 15 verified job starts (1-14, and 16 after a dispute): 15 x 25 000.00 = 375 000.00
- 8 verified 13-week outcomes (1-8): 8 x 12 345.67 = 98 765.36                         -> 473 765.36
  each splits 7 407.40 / 4 938.27 (1 234 567 øre x 60 % = 740 740.2, x 40 % = 493 826.8: the spare øre
  goes to the larger remainder, B)
- 26-week outcomes for 1-4, in that order; each participant already has 37 345.67, so the per-participant
  cap leaves 22 654.33 (cut 17 345.67):
  1: 22 654.33 payable (contract room 26 234.64)                                         -> 496 419.69
     split 13 592.60 / 9 061.73 (2 265 433 øre: 1 359 259.8 / 906 173.2, spare øre to A)
  2: contract room 3 580.31: payable 3 580.31, cut 17 345.67 + 19 074.02                 -> 500 000.00
     split 2 148.19 / 1 432.12 (358 031 øre: 214 818.6 / 143 212.4, spare øre to A)
  3, 4: payable 0.00, cut 17 345.67 + 22 654.33
- Payer A: tariff 15 x 15 000.00 + 8 x 7 407.40 + 4 x 24 000.00 = 380 259.20,
           payable 225 000.00 + 59 259.20 + 13 592.60 + 2 148.19 = 299 999.99, cut 80 259.21
- Payer B: tariff 15 x 10 000.00 + 8 x 4 938.27 + 4 x 16 000.00 = 253 506.16,
           payable 150 000.00 + 39 506.16 + 9 061.73 + 1 432.12 = 200 000.01, cut 53 506.15
- Together 500 000.00 = the contract cap, to the øre.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from services.outcomes.chain import verify_chain
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
    ledger_head,
    quarter,
    whole_ledger,
)

ENROLLED = TODAY - timedelta(days=400)
JOB = ENROLLED + timedelta(days=30)
W13 = JOB + timedelta(days=100)
W26 = JOB + timedelta(days=200)

EXPECTED_STATEMENTS = {
    # payer: (lines, total tariff, total payable, total cut)
    "A": (27, "380259.20", "299999.99", "80259.21"),
    "B": (27, "253506.16", "200000.01", "53506.15"),
}
EXPECTED_26W = {
    1: ("22654.33", [("per_participant", "17345.67")]),
    2: ("3580.31", [("per_participant", "17345.67"), ("contract_total", "19074.02")]),
    3: ("0.00", [("per_participant", "17345.67"), ("contract_total", "22654.33")]),
    4: ("0.00", [("per_participant", "17345.67"), ("contract_total", "22654.33")]),
}


async def test_a_full_contract_run_matches_the_hand_computed_table(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    payer = {n: cast.payer_a if n <= 12 else cast.payer_b for n in range(1, 21)}
    people: dict[int, dict[str, Any]] = {}
    for n in range(1, 21):
        enroller = cast.payer_a if n == 12 else cast.provider  # a municipality may enrol its own resident
        people[n] = await enrol(
            outcomes,
            enroller,
            cast,
            contract_id,
            synthetic_cpr(n),
            municipality_code="657" if n <= 12 else "791",
            enrolment_date=ENROLLED,
            cohort="2025-H2",
        )
    for n in range(1, 20):  # 20 is never confirmed
        await confirm(outcomes, payer[n], people[n]["id"])

    job: dict[int, dict[str, Any]] = {}
    for n in range(1, 18):
        job[n] = await claim(outcomes, cast.provider, people[n]["id"], "job_start", JOB)
    for n in range(1, 15):
        verifier = (
            cast.evaluator if n in (13, 14) else payer[n]
        )  # the contract lets evaluators verify job starts
        verified = await decide(outcomes, verifier, job[n]["id"], "verified")
        assert (verified["payable"], verified["cut"], verified["cut_reasons"]) == ("25000.00", "0.00", [])
    await decide(outcomes, cast.payer_b, job[15]["id"], "rejected", reason="No employment contract on file")
    for n, resolution in ((16, "verified"), (17, "rejected")):
        await decide(outcomes, cast.payer_b, job[n]["id"], "rejected", reason="Hours below 15 a week")
        disputed = check(
            await outcomes.post(
                f"/v1/outcome-claims/{job[n]['id']}/dispute",
                json={"reason": "The contract says 16 hours; attached again"},
                headers={**cast.provider.headers, **key()},
            ),
            200,
        )
        assert disputed["status"] == "disputed"
        resolved = await decide(
            outcomes, cast.payer_b, job[n]["id"], resolution, reason="Reviewed", path="dispute-resolution"
        )
        assert (resolved["status"], resolved["final"]) == (resolution, True)
    again = await outcomes.post(
        f"/v1/outcome-claims/{job[17]['id']}/dispute",
        json={"reason": "Once more"},
        headers={**cast.provider.headers, **key()},
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid-claim-transition")
    assert again.json()["status"] == 409
    assert again.json()["claim_status"] == "rejected"  # the dispute was resolved: no second one

    for n in range(1, 9):
        w13 = await claim(outcomes, cast.provider, people[n]["id"], "employed_13w", W13)
        verified = await decide(outcomes, payer[n], w13["id"], "verified")
        assert verified["payable"] == "12345.67"
        assert sorted(s["amount"] for s in verified["split"]) == ["4938.27", "7407.40"]
    for n in range(1, 5):
        w26 = await claim(outcomes, cast.provider, people[n]["id"], "employed_26w", W26)
        verified = await decide(outcomes, payer[n], w26["id"], "verified")
        payable, cuts = EXPECTED_26W[n]
        assert verified["payable"] == payable
        assert [(c["cap"], c["amount"]) for c in verified["cut_reasons"]] == cuts
        assert Decimal(verified["payable"]) + Decimal(verified["cut"]) == Decimal("40000.00")
        assert sum(Decimal(s["amount"]) for s in verified["split"]) == Decimal(payable)

    exited = check(
        await outcomes.post(
            f"/v1/participants/{people[19]['id']}/exit",
            json={"exit_date": (TODAY - timedelta(days=10)).isoformat(), "reason": "Moved abroad"},
            headers={**cast.provider.headers, **key()},
        ),
        200,
    )
    assert exited["exit_date"] == (TODAY - timedelta(days=10)).isoformat()

    # Quarterly statements, one per payer: generated by the provider, issued, and paid by the payer.
    start, end = quarter(TODAY)
    for name, actor in (("A", cast.payer_a), ("B", cast.payer_b)):
        draft = check(
            await outcomes.post(
                "/v1/payment-statements",
                json={
                    "contract_id": str(contract_id),
                    "payer_organisation_id": str(actor.organisation_id),
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                },
                headers={**cast.provider.headers, **key()},
            ),
            201,
        )
        lines, tariff, total, cut = EXPECTED_STATEMENTS[name]
        assert (len(draft["lines"]), draft["total_tariff"], draft["total"], draft["total_cut"]) == (
            lines,
            tariff,
            total,
            cut,
        )
        assert sum(Decimal(x["amount"]) for x in draft["lines"]) == Decimal(total)
        assert sum(Decimal(x["cut_share"]) for x in draft["lines"]) == Decimal(cut)
        assert {x["kind"] for x in draft["lines"]} == {"claim"}
        issued = check(
            await outcomes.post(
                f"/v1/payment-statements/{draft['id']}/issue", headers={**cast.provider.headers, **key()}
            ),
            200,
        )
        assert issued["status"] == "issued"
        assert len(issued["content_hash"]) == 64
        assert issued["total"] == total
        not_theirs = await outcomes.post(
            f"/v1/payment-statements/{draft['id']}/payment", headers={**cast.provider.headers, **key()}
        )
        assert not_theirs.status_code == 403
        paid = check(
            await outcomes.post(
                f"/v1/payment-statements/{draft['id']}/payment", headers={**actor.headers, **key()}
            ),
            200,
        )
        assert (paid["status"], paid["total"], paid["content_hash"]) == (
            "paid",
            total,
            issued["content_hash"],
        )

    # A verification after the statement was issued lands as an adjustment line in the next statement.
    late = await claim(outcomes, cast.provider, people[9]["id"], "employed_13w", W13)
    late = await decide(outcomes, cast.payer_a, late["id"], "verified")
    assert (late["payable"], late["cut_reasons"]) == (
        "0.00",
        [{"cap": "contract_total", "amount": "12345.67"}],
    )
    next_start = end + timedelta(days=1)
    next_statement = check(
        await outcomes.post(
            "/v1/payment-statements",
            json={
                "contract_id": str(contract_id),
                "payer_organisation_id": str(cast.payer_a.organisation_id),
                "period_start": next_start.isoformat(),
                "period_end": quarter(next_start)[1].isoformat(),
            },
            headers={**cast.payer_a.headers, **key()},
        ),
        201,
    )
    assert [
        (x["kind"], x["claim_id"], x["tariff_share"], x["cut_share"], x["amount"])
        for x in next_statement["lines"]
    ] == [("adjustment", late["id"], "7407.40", "7407.40", "0.00")]

    aggregates = check(
        await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/outcome-aggregates", headers=cast.provider.headers
        ),
        200,
    )
    assert (aggregates["enrolled"], aggregates["exited"]) == (20, 1)
    by_code: dict[str, int] = {}
    for row in aggregates["verified_outcomes"]:
        by_code[row["outcome_code"]] = by_code.get(row["outcome_code"], 0) + row["verified"]
    assert by_code == {"job_start": 15, "employed_13w": 9, "employed_26w": 4}
    [contract] = aggregates["contracts"]
    assert (contract["earned"], contract["contract_cap"], contract["remaining_cap"]) == (
        "500000.00",
        "500000.00",
        "0.00",
    )
    assert (contract["pending_claims"], contract["pending_value"]) == (0, "0.00")
    assert "participant" not in str(aggregates)

    # Every state change made exactly one ledger event, and the chain holds.
    # 20 enrolments + 19 confirmations + 30 claims + 34 decisions and disputes + 1 exit + 7 statement events
    # + 2 summaries (each issued statement's `statement.summarised`)
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == 113
    events = await whole_ledger(outcomes, cast.observer, cast.partnership_id)
    assert verify_chain(events).valid
    verification = check(
        await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/ledger/verification", headers=cast.adviser.headers
        ),
        200,
    )
    assert (verification["valid"], verification["checked"]) == (True, 113)
