"""Post-payment audits through the public API, the worked example of docs/contract-terms.md: a payer
audits its paid claims of a quarter on a seeded sample the provider can redraw, records findings (an
invalid one with a reason the provider disputes and the payer upholds), and closing the audit books one
clawback line per invalid claim and one extrapolated adjustment into the payer's next statement, whose
totals match the figures computed by hand. Only the provider and the payer read the sample and the lines;
other readers get totals, and sealed stubs of the person-level clawback events."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx

from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import v2_terms, window
from tests.actors import Actor, Cast
from tests.gateway.support import gid
from tests.outcomes.integrations.published import catalogue, catalogued_types, payload_validator
from tests.outcomes.support import (
    TODAY,
    active_contract,
    amend_contract,
    check,
    claim,
    confirm,
    decide,
    enrol,
    key,
    quarter,
)

D = Decimal
SEED = "worked-example-2027"


async def _statement(outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, period: Any) -> Any:
    start, end = period
    return check(
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


async def _paid_claims(
    outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, first: int, count: int, achieved: Any
) -> list[str]:
    made = []
    for n in range(first, first + count):
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(8100 + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=200),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        done = await claim(outcomes, cast.provider, person["id"], "job_start", achieved)
        await decide(outcomes, cast.payer_a, done["id"], "verified")
        made.append(done["id"])
    return made


def _write(actor: Actor, version: int | None = None) -> dict[str, str]:
    return {**actor.headers, **key(), **({"If-Match": f'"{version}"'} if version is not None else {})}


async def test_an_audit_claws_back_and_extrapolates_into_the_next_statement(
    shared_cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    cast = shared_cast
    this = quarter(TODAY)
    last = quarter(this[0] - timedelta(days=1))
    payer = str(cast.payer_a.organisation_id)
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    rule = {
        "payer_organisation_id": payer,
        "sample_size": 3,
        "extrapolation": "by_value",
        "threshold_percent": "2",
        "extrapolation_cap": "100000.00",
    }
    terms = v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=[job_start],
        caps={"contract_total": "5000000.00"},
        split={"method": "fixed", "shares": [{"organisation_id": payer, "percent": "100"}]},
        statement_basis="achievement",
        audits=[rule],
    )
    contract_id, _ = await active_contract(contracts, cast, terms)

    # Last quarter: ten claims of 25 000.00, on a statement issued for 250 000.00.
    paid = await _paid_claims(outcomes, cast, contract_id, 0, 10, last[0] + timedelta(days=5))
    before = await _statement(outcomes, cast, contract_id, last)
    assert before["total"] == "250000.00"
    issued = check(
        await outcomes.post(
            f"/v1/payment-statements/{before['id']}/issue", headers=_write(cast.provider, before["version"])
        ),
        200,
    )
    assert issued["status"] == "issued"

    # The payer opens its audit of the quarter; only the payer may.
    body = {
        "contract_id": str(contract_id),
        "payer_organisation_id": payer,
        "period_start": last[0].isoformat(),
        "period_end": last[1].isoformat(),
        "seed": SEED,
    }
    refused = await outcomes.post("/v1/payment-audits", json=body, headers=_write(cast.provider))
    assert refused.status_code == 403, refused.text
    audit = check(await outcomes.post("/v1/payment-audits", json=body, headers=_write(cast.payer_a)), 201)
    assert (audit["population_claims"], audit["population_value"], audit["sample_size"]) == (
        10,
        "250000.00",
        3,
    )
    assert (audit["seed"], audit["status"]) == (SEED, "open")
    again = await outcomes.post("/v1/payment-audits", json=body, headers=_write(cast.payer_a))
    assert (again.status_code, again.json()["code"]) == (409, "audit-overlaps")

    # The provider redraws the sample from the seed: SHA-256 of "<seed>:<claim id>", lowest three.
    seen = check(await outcomes.get(f"/v1/payment-audits/{audit['id']}", headers=cast.provider.headers), 200)
    assert sorted(c["claim_id"] for c in seen["claims"]) == sorted(paid)
    ranks = {c: hashlib.sha256(f"{SEED}:{c}".encode()).hexdigest() for c in paid}
    redrawn = sorted(paid, key=lambda c: ranks[c])[:3]
    sample = [c["claim_id"] for c in seen["claims"] if c["sampled"]]
    assert sample == redrawn
    assert all(c["rank"] == ranks[c["claim_id"]] for c in seen["claims"])
    # Investors read the audit's totals, not its claims, under the small-cell rule: ten paid claims show
    # (above 5), with their value and the sample drawn from them.
    told = check(await outcomes.get(f"/v1/payment-audits/{audit['id']}", headers=cast.investor.headers), 200)
    assert (told["claims"], told["population_claims"], told["population_value"]) == (None, 10, "250000.00")
    assert (told["sample_size"], told["small_cell_threshold"], told["suppressed"]) == (3, 5, [])

    # Findings: one invalid (with its reason, never a CPR number), two valid; a claim outside the sample and
    # an invalid finding without a reason are refused naming the field; If-Match guards the audit.
    findings = "/v1/payment-audits/{}/findings".format(audit["id"])
    outside = next(c for c in paid if c not in sample)
    for wrong, field in (
        ({"claim_id": outside, "finding": "valid"}, "body.findings.0.claim_id"),
        ({"claim_id": sample[0], "finding": "invalid"}, "body.findings.0.reason"),
        (
            {"claim_id": sample[0], "finding": "invalid", "reason": "see 010190-1234"},
            "body.findings.0.reason",
        ),
    ):
        response = await outcomes.post(findings, json={"findings": [wrong]}, headers=_write(cast.payer_a))
        assert response.status_code == 422, response.text
        assert field in [p["name"] for p in response.json()["invalid_params"]], response.text
    reason = "No employment found in the income register for the month"
    recorded = {
        "findings": [
            {"claim_id": sample[0], "finding": "invalid", "reason": reason},
            {"claim_id": sample[1], "finding": "valid"},
            {"claim_id": sample[2], "finding": "valid"},
        ]
    }
    stale = await outcomes.post(findings, json=recorded, headers=_write(cast.payer_a, audit["version"] + 5))
    assert stale.status_code == 412, stale.text
    by_provider = await outcomes.post(findings, json=recorded, headers=_write(cast.provider))
    assert by_provider.status_code == 403, by_provider.text
    audit = check(
        await outcomes.post(findings, json=recorded, headers=_write(cast.payer_a, audit["version"])), 200
    )

    # The provider disputes the invalid finding; while open, the audit cannot close; the payer upholds it.
    dispute = {"claim_id": sample[0], "reason": "The payslip for the month is in the evidence file"}
    audit = check(
        await outcomes.post(
            f"/v1/payment-audits/{audit['id']}/disputes", json=dispute, headers=_write(cast.provider)
        ),
        200,
    )
    closure = f"/v1/payment-audits/{audit['id']}/closure"
    blocked = await outcomes.post(closure, headers=_write(cast.payer_a))
    assert (blocked.status_code, blocked.json()["code"]) == (409, "audit-incomplete")
    upheld = {"findings": [{"claim_id": sample[0], "finding": "invalid", "reason": reason + " (upheld)"}]}
    audit = check(await outcomes.post(findings, json=upheld, headers=_write(cast.payer_a)), 200)
    twice = await outcomes.post(
        f"/v1/payment-audits/{audit['id']}/disputes",
        json=dispute | {"reason": "Again"},
        headers=_write(cast.provider),
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "finding-final")

    # Closing: by hand, the clawback is the invalid claim's 25 000.00; the sample's error rate by value is
    # 25 000 / 75 000 = 33.3333 %, over the 2 % threshold; on the 175 000.00 not sampled that is
    # 58 333.333… → 58 333.33, under the 100 000.00 cap.
    closed = check(await outcomes.post(closure, headers=_write(cast.payer_a, audit["version"])), 200)
    assert (closed["status"], closed["clawed_back"], closed["extrapolated"]) == (
        "closed",
        "25000.00",
        "58333.33",
    )
    assert closed["working"]["error_rate_percent"] == "33.3333"
    assert (closed["working"]["unsampled_value"], closed["working"]["computed"]) == ("175000.00", "58333.33")
    # An investor: one invalid claim is a small count, so what it clawed back and extrapolated (25 000.00
    # at a public price is one claim) are withheld, and the working with its counts (3 sampled).
    told = check(await outcomes.get(f"/v1/payment-audits/{audit['id']}", headers=cast.investor.headers), 200)
    assert (told["population_claims"], told["clawed_back"], told["extrapolated"], told["working"]) == (
        10,
        None,
        None,
        None,
    )
    assert told["suppressed"] == ["clawed_back", "extrapolated", "working"]
    replay = check(await outcomes.post(closure, headers=_write(cast.payer_a)), 200)
    assert replay["version"] == closed["version"]
    late = await outcomes.post(findings, json=recorded, headers=_write(cast.payer_a))
    assert (late.status_code, late.json()["code"]) == (409, "audit-closed")

    # The next statement: four new claims of 25 000.00 this quarter, less 25 000.00 and 58 333.33:
    # 100 000.00 - 83 333.33 = 16 666.67.
    await _paid_claims(outcomes, cast, contract_id, 10, 4, TODAY)
    after = await _statement(outcomes, cast, contract_id, this)
    assert after["total"] == "16666.67"
    assert after["total"] == str(sum((D(x["amount"]) for x in after["lines"]), D(0)))
    assert sorted((x["kind"], x["amount"]) for x in after["lines"]) == [
        *[("claim", "25000.00")] * 4,
        ("clawback", "-25000.00"),
        ("extrapolated", "-58333.33"),
    ]
    [clawback] = [x for x in after["lines"] if x["kind"] == "clawback"]
    assert (clawback["claim_id"], clawback["audit_id"]) == (sample[0], audit["id"])
    assert after["audits"] == [
        {
            "audit_id": audit["id"],
            "clawback_lines": 1,
            "clawed_back": "-25000.00",
            "extrapolated": "-58333.33",
            "amount": "-83333.33",
            "suppressed": [],
        }
    ]
    by_outcome = sum((D(o["amount"]) for o in after["outcomes"]), D(0))
    assert by_outcome + sum((D(a["amount"]) for a in after["audits"]), D(0)) == D(after["total"])
    # A refresh books nothing twice; the claim's own price and split are untouched.
    assert (await _statement(outcomes, cast, contract_id, this))["total"] == "16666.67"
    own = check(await outcomes.get(f"/v1/outcome-claims/{sample[0]}", headers=cast.provider.headers), 200)
    assert [x["amount"] for x in own["split"]] == ["25000.00"], own

    # An investor reads the totals only, under the small-cell rule: one clawback line is a small count, and
    # every amount of the audit with it (25 000.00 clawed back at a public price of 25 000.00 is one
    # claim), so the statement's totals too; and the clawback's ledger event as a sealed stub.
    told = check(
        await outcomes.get(f"/v1/payment-statements/{after['id']}", headers=cast.investor.headers), 200
    )
    withheld = ["clawback_lines", "clawed_back", "extrapolated", "amount"]
    assert told["lines"] is None
    assert told["audits"] == [{"audit_id": audit["id"], **dict.fromkeys(withheld), "suppressed": withheld}]
    assert (told["total"], told["total_tariff"], told["total_cut"]) == (None, None, None)
    assert set(told["suppressed"]) == {"total", "total_tariff", "total_cut"}
    assert told["small_cell_threshold"] == 5
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.investor.headers,
        ),
        200,
    )
    types = [e["type"] for e in feed]
    assert "dk.effekt.claim.clawed_back" not in types
    # The audit's events carry its exact counts (ten paid, one invalid): sealed for the investor too.
    assert not {"dk.effekt.audit.opened", "dk.effekt.audit.closed"} & set(types)
    assert "-25000.00" not in str(feed)
    assert "58333.33" not in str(feed)
    full = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.provider.headers,
        ),
        200,
    )
    [opened] = [
        e for e in full if e["type"] == "dk.effekt.audit.opened" and e["data"]["audit_id"] == audit["id"]
    ]
    assert (opened["data"]["seed"], opened["data"]["sample_size"]) == (SEED, 3)
    [done] = [
        e for e in full if e["type"] == "dk.effekt.audit.closed" and e["data"]["audit_id"] == audit["id"]
    ]
    assert (done["data"]["clawed_back"], done["data"]["extrapolated"]) == ("25000.00", "58333.33")
    assert not any(c in str(done) or c in str(opened) for c in paid), (
        "no claim named in the partnership events"
    )
    [back] = [
        e for e in full if e["type"] == "dk.effekt.claim.clawed_back" and e["data"]["audit_id"] == audit["id"]
    ]
    assert (back["data"]["claim_id"], back["data"]["amount"]) == (sample[0], "-25000.00")
    document = catalogue()
    types_ = catalogued_types(document)
    for event in (opened, done, back):
        assert not list(payload_validator(document, types_[event["type"]]).iter_errors(event)), event

    # Through GraphQL the provider reads the lines with their kinds.
    response = await gateway.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { partnership(id: $id) { statements { uuid total "
            "lines { kind amount } } } }",
            "variables": {"id": gid("Partnership", cast.partnership_id)},
        },
        headers={"Accept": "application/graphql-response+json", **cast.provider.headers},
    )
    assert response.status_code == 200, response.text
    [shown] = [x for x in response.json()["data"]["partnership"]["statements"] if x["uuid"] == after["id"]]
    assert sorted(x["kind"] for x in shown["lines"]) == ["CLAIM"] * 4 + ["CLAWBACK", "EXTRAPOLATED"]
    # An investor reads the audit's totals on the statement, and no line.
    response = await gateway.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { partnership(id: $id) { statements { uuid total "
            "audits { auditId clawbackLines clawedBack extrapolated amount suppressed } } } }",
            "variables": {"id": gid("Partnership", cast.partnership_id)},
        },
        headers={"Accept": "application/graphql-response+json", **cast.investor.headers},
    )
    assert response.status_code == 200, response.text
    [shown] = [x for x in response.json()["data"]["partnership"]["statements"] if x["uuid"] == after["id"]]
    assert shown["total"] is None
    assert shown["audits"] == [
        {
            "auditId": audit["id"],
            "clawbackLines": None,
            "clawedBack": None,
            "extrapolated": None,
            "amount": None,
            "suppressed": ["clawbackLines", "clawedBack", "extrapolated", "amount"],
        }
    ]

    # A retroactive amendment then raises the price to 30 000.00: the claims found valid are re-priced (an
    # adjustment of 5 000.00 each), the clawed-back one moves nothing, so nothing is paid again for it.
    amended = json.loads(json.dumps(terms))
    amended["outcomes"][0]["tariff"] = "30000.00"
    await amend_contract(contracts, cast, contract_id, amended)
    # Drafting catches the re-pricing up, once the registry's answer cached for a few seconds is renewed.
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        repriced = await _statement(outcomes, cast, contract_id, this)
        valid = check(
            await outcomes.get(f"/v1/outcome-claims/{sample[1]}", headers=cast.provider.headers), 200
        )
        if valid["payable"] == "30000.00":
            break
        assert asyncio.get_running_loop().time() < deadline, "the amendment was not re-priced in time"
        await asyncio.sleep(1)
    invalid = check(await outcomes.get(f"/v1/outcome-claims/{sample[0]}", headers=cast.provider.headers), 200)
    assert (valid["payable"], invalid["payable"]) == ("30000.00", "25000.00")
    adjusted = {x["claim_id"] for x in repriced["lines"] if x["kind"] == "adjustment"}
    assert sample[0] not in adjusted
    assert sample[1] in adjusted
