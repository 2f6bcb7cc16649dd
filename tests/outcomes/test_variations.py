"""Temporary variations through the public API: an amendment switches two months from outcome pricing to
fixed "medium scenario" payments and back. Claims achieved inside the variation are still verified, priced
at zero with the variation named as the cut; each payer's monthly scenario payments land once as
`variation` lines with a catalogued ledger event; outcome pricing resumes after it. The statements before,
during and after total what docs/contract-terms.md computes by hand."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx

from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import v2_terms, variation, window
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
    month,
)

D = Decimal


async def _statement(
    outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, payer: Actor, start: date, end: date
) -> Any:
    return check(
        await outcomes.post(
            "/v1/payment-statements",
            json={
                "contract_id": str(contract_id),
                "payer_organisation_id": str(payer.organisation_id),
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            },
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )


def _summed(statement: dict[str, Any]) -> tuple[str, str, str]:
    lines = statement["lines"]
    total = sum((D(x["amount"]) for x in lines), D(0))
    tariff = sum((D(x["tariff_share"]) for x in lines), D(0))
    return f"{total:.2f}", f"{tariff:.2f}", f"{tariff - total:.2f}"


async def test_a_variation_pays_scenario_amounts_instead_of_outcomes_and_pricing_resumes_after_it(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    before, (during, _), (_, during_end), after = (
        month(TODAY, -4),
        month(TODAY, -3),
        month(TODAY, -2),
        month(TODAY, -1),
    )
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    shares = [
        {"organisation_id": str(cast.payer_a.organisation_id), "percent": "60"},
        {"organisation_id": str(cast.payer_b.organisation_id), "percent": "40"},
    ]
    terms = v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=[job_start],
        caps={"contract_total": "1000000.00"},
        split={"method": "fixed", "shares": shares},
        statement_basis="achievement",
    )
    contract_id, _ = await active_contract(contracts, cast, terms)

    async def achieved(n: int, on: date) -> dict[str, Any]:
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(7500 + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=300),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        made = await claim(outcomes, cast.provider, person["id"], "job_start", on)
        return dict(await decide(outcomes, cast.payer_a, made["id"], "verified"))

    first = await achieved(0, before[0] + timedelta(days=14))  # priced before the amendment
    assert first["payable"] == "25000.00"

    # The amendment, effective from the variation's first day: two months at the medium scenario.
    amended = copy.deepcopy(terms)
    amended["start_date"] = during.isoformat()
    amended["variations"] = [
        variation(
            "covid_19",
            during,
            during_end,
            [(cast.payer_a.organisation_id, "9000"), (cast.payer_b.organisation_id, "6000.00")],
            reason="Referrals paused; services moved online",
        )
    ]
    version_id = await amend_contract(contracts, cast, contract_id, amended)

    inside = [
        await achieved(1, during + timedelta(days=14)),
        await achieved(2, during_end - timedelta(days=3)),
    ]
    for priced in inside:  # recorded and verified, but paid by the variation instead
        assert priced["status"] == "verified"
        assert (priced["tariff"], priced["payable"], priced["cut"]) == ("25000.00", "0.00", "25000.00")
        assert priced["cut_reasons"] == [{"cap": "variation:covid_19", "amount": "25000.00"}]
        assert priced["priced_contract_version_id"] == str(version_id)
    resumed = [await achieved(3, after[0] + timedelta(days=2)), await achieved(4, after[1])]
    assert [p["payable"] for p in resumed] == ["25000.00", "25000.00"]

    # By hand (docs/contract-terms.md, "Temporary variations"): 60/40 of 25 000.00 is 15 000.00/10 000.00.
    # Before: one claim. During: two claims at zero (their 30 000.00/20 000.00 cut by the variation) and
    # two months at 9 000.00/6 000.00. After: two claims.
    expected = {
        (cast.payer_a, "before"): ("15000.00", "15000.00", "0.00"),
        (cast.payer_a, "during"): ("18000.00", "48000.00", "30000.00"),
        (cast.payer_a, "after"): ("30000.00", "30000.00", "0.00"),
        (cast.payer_b, "before"): ("10000.00", "10000.00", "0.00"),
        (cast.payer_b, "during"): ("12000.00", "32000.00", "20000.00"),
        (cast.payer_b, "after"): ("20000.00", "20000.00", "0.00"),
    }
    periods = {"before": before, "during": (during, during_end), "after": after}
    drafted: dict[tuple[Actor, str], Any] = {}
    for (payer, name), figures in expected.items():
        statement = await _statement(outcomes, cast, contract_id, payer, *periods[name])
        assert (statement["total"], statement["total_tariff"], statement["total_cut"]) == figures, name
        assert _summed(statement) == figures  # the statement is the sum of its lines
        drafted[(payer, name)] = statement
    a_during = drafted[(cast.payer_a, "during")]
    assert sorted(
        (x["kind"], x["variation_code"], x["achievement_date"], x["amount"]) for x in a_during["lines"]
    ) == [
        ("claim", None, inside[0]["achievement_date"], "0.00"),
        ("claim", None, inside[1]["achievement_date"], "0.00"),
        ("variation", "covid_19", month(TODAY, -3)[1].isoformat(), "9000.00"),
        ("variation", "covid_19", during_end.isoformat(), "9000.00"),
    ]
    assert all(
        x["claim_id"] is None and x["outcome_code"] is None
        for x in a_during["lines"]
        if x["kind"] == "variation"
    )
    assert [x["amount"] for x in a_during["variations"]] == ["9000.00", "9000.00"]
    for payer, whole in ((cast.payer_a, "63000.00"), (cast.payer_b, "42000.00")):  # across the three
        assert f"{sum(D(drafted[(payer, n)]['total']) for n in periods):.2f}" == whole

    # A refresh books nothing twice.
    again = await _statement(outcomes, cast, contract_id, cast.payer_a, during, during_end)
    assert (again["total"], len(again["lines"])) == ("18000.00", 4)

    # An investor reads the scenario payments among the totals every reader sees, no line; the total is
    # withheld with the two suspended claims' row (the small-cell rule).
    seen = check(
        await outcomes.get(f"/v1/payment-statements/{a_during['id']}", headers=cast.investor.headers), 200
    )
    assert (seen["total"], seen["lines"], "total" in seen["suppressed"]) == (None, None, True)
    assert [(x["variation_code"], x["amount"]) for x in seen["variations"]] == [("covid_19", "9000.00")] * 2

    # The gateway shows the lines with their kind: a variation line names its variation, no claim.
    response = await gateway.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { partnership(id: $id) { statements { uuid total "
            "variations { variationCode amount } lines { kind claimId variationCode amount } } } }",
            "variables": {"id": gid("Partnership", cast.partnership_id)},
        },
        headers={"Accept": "application/graphql-response+json", **cast.provider.headers},
    )
    assert response.status_code == 200, response.text
    [shown] = [x for x in response.json()["data"]["partnership"]["statements"] if x["uuid"] == a_during["id"]]
    assert sorted((x["kind"], x["variationCode"] or "", x["amount"]) for x in shown["lines"]) == [
        ("CLAIM", "", "0.00"),
        ("CLAIM", "", "0.00"),
        ("VARIATION", "covid_19", "9000.00"),
        ("VARIATION", "covid_19", "9000.00"),
    ]
    assert shown["variations"] == [{"variationCode": "covid_19", "amount": "9000.00"}] * 2

    # Issued, the statement keeps its total, the variation lines in its hash.
    issued = check(
        await outcomes.post(
            f"/v1/payment-statements/{a_during['id']}/issue",
            headers={**cast.provider.headers, **key(), "If-Match": f'"{again["version"]}"'},
        ),
        200,
    )
    assert (issued["status"], issued["total"]) == ("issued", "18000.00")

    # Each month's booking is one ledger event per payer, with its working, as the catalogue says.
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.investor.headers,
        ),
        200,
    )
    booked = [e for e in feed if e["type"] == "dk.effekt.variation.booked"]
    assert sorted(
        (e["data"]["payer_organisation_id"], e["data"]["working"]["month"], e["data"]["working"]["amount"])
        for e in booked
    ) == sorted(
        (str(payer.organisation_id), m.isoformat()[:7], amount)
        for payer, amount in ((cast.payer_a, "9000.00"), (cast.payer_b, "6000.00"))
        for m in (during, month(TODAY, -2)[0])
    )
    one = next(e for e in booked if e["data"]["payer_organisation_id"] == str(cast.payer_a.organisation_id))
    assert one["data"]["contract_version_id"] == str(version_id)
    assert one["data"]["late"] is False
    assert one["data"]["working"] | {"basis": "", "month": "", "due_date": ""} == {
        "variation_code": "covid_19",
        "scenario": "medium",
        "basis": "",
        "month": "",
        "due_date": "",
        "instalment": one["data"]["working"]["instalment"],
        "instalments": 2,
        "amount": "9000.00",
    }
    document = catalogue()
    types = catalogued_types(document)
    validator = payload_validator(document, types["dk.effekt.variation.booked"])
    assert all(not list(validator.iter_errors(e)) for e in booked)


async def test_a_retroactive_variation_reprices_a_claim_already_paid_and_books_the_missed_month_late(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """A job start last month is priced at 25 000.00 (Herning 15 000.00) and last month's statement is
    issued; then an amendment puts last month under a variation (Herning 9 000.00 a month). By hand, this
    month's statement for Herning: its own job start 15 000.00, the suspended claim's adjustment
    -15 000.00 and last month's scenario payment 9 000.00, booked late: 9 000.00; last month's issued
    statement stays 15 000.00."""
    last, this = month(TODAY, -1), month(TODAY)
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    shares = [
        {"organisation_id": str(cast.payer_a.organisation_id), "percent": "60"},
        {"organisation_id": str(cast.payer_b.organisation_id), "percent": "40"},
    ]
    terms = v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=[job_start],
        caps={"contract_total": "1000000.00"},
        split={"method": "fixed", "shares": shares},
        statement_basis="achievement",
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    made = []
    for n, on in enumerate((last[0] + timedelta(days=4), this[0])):
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(7520 + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=200),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        made.append(await claim(outcomes, cast.provider, person["id"], "job_start", on))
    await decide(outcomes, cast.payer_a, made[0]["id"], "verified")
    drafted = await _statement(outcomes, cast, contract_id, cast.payer_a, *last)
    issued = check(
        await outcomes.post(
            f"/v1/payment-statements/{drafted['id']}/issue",
            headers={**cast.provider.headers, **key(), "If-Match": f'"{drafted["version"]}"'},
        ),
        200,
    )
    assert issued["total"] == "15000.00"

    amended = copy.deepcopy(terms)
    amended["start_date"] = last[0].isoformat()
    amended["variations"] = [
        variation(
            "covid_19",
            last[0],
            last[1],
            [(cast.payer_a.organisation_id, "9000.00"), (cast.payer_b.organisation_id, "6000.00")],
        )
    ]
    version_id = await amend_contract(contracts, cast, contract_id, amended)
    await decide(outcomes, cast.payer_a, made[1]["id"], "verified")

    statement = await _statement(outcomes, cast, contract_id, cast.payer_a, *this)
    assert (statement["total"], _summed(statement)[0]) == ("9000.00", "9000.00")
    assert sorted((x["kind"], x["amount"], x["repriced_by_version_id"]) for x in statement["lines"]) == [
        ("adjustment", "-15000.00", str(version_id)),
        ("claim", "15000.00", None),
        ("variation", "9000.00", None),
    ]
    suspended = check(
        await outcomes.get(f"/v1/outcome-claims/{made[0]['id']}", headers=cast.payer_a.headers), 200
    )
    assert (suspended["payable"], suspended["cut_reasons"]) == (
        "0.00",
        [{"cap": "variation:covid_19", "amount": "25000.00"}],
    )
    kept = check(
        await outcomes.get(f"/v1/payment-statements/{issued['id']}", headers=cast.payer_a.headers), 200
    )
    assert (kept["total"], kept["content_hash"]) == ("15000.00", issued["content_hash"])
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.payer_a.headers,
        ),
        200,
    )
    booked = [e["data"] for e in feed if e["type"] == "dk.effekt.variation.booked"]
    assert [(d["late"], d["working"]["amount"]) for d in booked] == [(True, "9000.00")]
