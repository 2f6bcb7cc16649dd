"""Fixed and guaranteed tranches through the public API: each payment the terms schedule by date lands,
once, as a `tranche` line on its payer's statement for the period its due date falls in, beside the
claim lines; statement totals match figures computed by hand; a refresh books nothing twice; each booking
is a catalogued ledger event with its working and nothing person-level."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx

from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import tranche, v2_terms, window
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
    quarter,
)

D = Decimal


async def _statement(
    outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, payer: Actor, period: Any
) -> Any:
    start, end = period
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


async def test_tranches_land_once_on_their_payers_statements_beside_the_claims(
    shared_cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    cast = shared_cast
    this = quarter(TODAY)
    last = quarter(this[0] - timedelta(days=1))
    following = quarter(this[1] + timedelta(days=1))
    fee = tranche(
        "service_fee",
        cast.payer_a.organisation_id,
        [(last[1], "2500.00"), (this[0], "2500.00"), (this[1], "1234.56"), (following[0], "2500.00")],
    )
    guarantee = tranche("guarantee", cast.payer_b.organisation_id, [(this[1], "40000")], kind="guaranteed")
    # Payer B pays no outcome (the split is payer A's alone), only its guarantee.
    shares = [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}]
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    terms = v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=[job_start],
        caps={"contract_total": "1000000.00"},
        split={"method": "fixed", "shares": shares},
        tranches=[fee, guarantee],
    )
    contract_id, version_id = await active_contract(contracts, cast, terms)
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(7301),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=60),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    made = await claim(outcomes, cast.provider, person["id"], "job_start", TODAY)
    await decide(outcomes, cast.payer_a, made["id"], "verified")

    # By hand: payer A pays the 25 000.00 claim and its fee's two payments due this quarter (2 500.00 on
    # its first day, 1 234.56 on its last): 28 734.56. Payer B pays its guaranteed 40 000: 40 000.00.
    a = await _statement(outcomes, cast, contract_id, cast.payer_a, this)
    assert a["total"] == "28734.56"
    assert a["total"] == str(sum((D(x["amount"]) for x in a["lines"]), D(0)))
    assert sorted((x["kind"], x["tranche_code"], x["priced_on"], x["amount"]) for x in a["lines"]) == [
        ("claim", None, TODAY.isoformat(), "25000.00"),
        ("tranche", "service_fee", this[0].isoformat(), "2500.00"),
        ("tranche", "service_fee", this[1].isoformat(), "1234.56"),
    ]
    assert all(
        x["claim_id"] is None and x["outcome_code"] is None for x in a["lines"] if x["kind"] == "tranche"
    )
    b = await _statement(outcomes, cast, contract_id, cast.payer_b, this)
    assert b["total"] == "40000.00"
    assert [(x["kind"], x["amount"]) for x in b["lines"]] == [("tranche", "40000.00")]

    # A refresh books nothing twice; the earlier and later quarters each carry their own payment only.
    again = await _statement(outcomes, cast, contract_id, cast.payer_a, this)
    assert (again["total"], len(again["lines"])) == ("28734.56", 3)
    before = await _statement(outcomes, cast, contract_id, cast.payer_a, last)
    assert (before["total"], [x["kind"] for x in before["lines"]]) == ("2500.00", ["tranche"])
    after = await _statement(outcomes, cast, contract_id, cast.payer_a, following)
    assert (after["total"], [x["tranche_code"] for x in after["lines"]]) == ("2500.00", ["service_fee"])
    assert (await _statement(outcomes, cast, contract_id, cast.payer_b, last))["total"] == "0.00"

    # Investors see the statement's tranche payments (nothing person-level on them); its totals are withheld
    # with its one claim's amount, which the total minus the tranches would give back (the small-cell rule).
    seen = check(await outcomes.get(f"/v1/payment-statements/{a['id']}", headers=cast.investor.headers), 200)
    assert (seen["total"], seen["lines"], "total" in seen["suppressed"]) == (None, None, True)
    assert sum((Decimal(x["amount"]) for x in seen["tranches"]), Decimal(0)) == Decimal("3734.56")

    # The gateway shows the lines with their kind: a tranche line names its tranche, no claim.
    response = await gateway.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { partnership(id: $id) { statements { uuid total "
            "lines { kind claimId outcomeCode trancheCode amount } } } }",
            "variables": {"id": gid("Partnership", cast.partnership_id)},
        },
        headers={"Accept": "application/graphql-response+json", **cast.provider.headers},
    )
    assert response.status_code == 200, response.text
    [shown] = [x for x in response.json()["data"]["partnership"]["statements"] if x["uuid"] == a["id"]]
    assert shown["total"] == "28734.56"
    assert sorted((x["kind"], x["trancheCode"] or "", x["amount"]) for x in shown["lines"]) == [
        ("CLAIM", "", "25000.00"),
        ("TRANCHE", "service_fee", "1234.56"),
        ("TRANCHE", "service_fee", "2500.00"),
    ]
    assert all(
        x["claimId"] is None and x["outcomeCode"] is None for x in shown["lines"] if x["kind"] == "TRANCHE"
    )

    # Issuing keeps the total; the issued statement is frozen with the tranche lines in its hash.
    issued = check(
        await outcomes.post(
            f"/v1/payment-statements/{a['id']}/issue",
            headers={**cast.provider.headers, **key(), "If-Match": f'"{again["version"]}"'},
        ),
        200,
    )
    assert (issued["status"], issued["total"]) == ("issued", "28734.56")
    assert issued["content_hash"]

    # Each booking is one ledger event with its working, as the catalogue describes it.
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.investor.headers,
        ),
        200,
    )
    events = [
        e
        for e in feed
        if e["type"] == "dk.effekt.tranche.booked" and e["data"]["contract_id"] == str(contract_id)
    ]
    workings = sorted((e["data"]["working"]["due_date"], e["data"]["working"]["amount"]) for e in events)
    assert workings == sorted(
        [
            (last[1].isoformat(), "2500.00"),
            (this[0].isoformat(), "2500.00"),
            (this[1].isoformat(), "1234.56"),
            (this[1].isoformat(), "40000.00"),
            (following[0].isoformat(), "2500.00"),
        ]
    )
    first = next(e for e in events if e["data"]["working"]["due_date"] == this[0].isoformat())
    assert first["data"]["contract_version_id"] == str(version_id)
    assert first["data"]["working"] | {"basis": ""} == {
        "tranche_code": "service_fee",
        "kind": "fixed",
        "basis": "",
        "due_date": this[0].isoformat(),
        "instalment": 2,
        "instalments": 4,
        "amount": "2500.00",
    }
    document = catalogue()
    validator = payload_validator(document, catalogued_types(document)["dk.effekt.tranche.booked"])
    assert all(not list(validator.iter_errors(e)) for e in events)


async def test_a_tranche_an_amendment_adds_to_an_issued_period_is_booked_on_the_next_statement(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """Herning's statement for last month is issued with one claim (25 000.00); an amendment effective
    from two months ago then adds a set-up fee due last month (2 500.00) and one due two months ago
    (1 000.00). By hand: the issued statement stays 25 000.00; this month's statement books the missed
    2 500.00, flagged late, and nothing else (25 000.00 for its own claim + 2 500.00 = 27 500.00); the fee
    two months ago waits for its own period's statement (never drafted), which books it on time."""
    previous, last, this = month(TODAY, -2), month(TODAY, -1), month(TODAY)
    shares = [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}]
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    terms = v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=[job_start],
        caps={"contract_total": "1000000.00"},
        split={"method": "fixed", "shares": shares},
        statement_basis="achievement",
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    for n, achieved in enumerate((last[0] + timedelta(days=3), this[0])):
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(7320 + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=200),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        made = await claim(outcomes, cast.provider, person["id"], "job_start", achieved)
        await decide(outcomes, cast.payer_a, made["id"], "verified")
    drafted = await _statement(outcomes, cast, contract_id, cast.payer_a, last)
    issued = check(
        await outcomes.post(
            f"/v1/payment-statements/{drafted['id']}/issue",
            headers={**cast.provider.headers, **key(), "If-Match": f'"{drafted["version"]}"'},
        ),
        200,
    )
    assert issued["total"] == "25000.00"

    amended = copy.deepcopy(terms)
    amended["start_date"] = previous[0].isoformat()
    amended["tranches"] = [
        tranche(
            "set_up_fee",
            cast.payer_a.organisation_id,
            [(previous[0] + timedelta(days=9), "1000.00"), (last[0] + timedelta(days=9), "2500.00")],
        )
    ]
    version_id = await amend_contract(contracts, cast, contract_id, amended)

    following = await _statement(outcomes, cast, contract_id, cast.payer_a, this)
    assert following["total"] == "27500.00"
    assert sorted(
        (x["kind"], x["tranche_code"], x["achievement_date"], x["amount"]) for x in following["lines"]
    ) == [
        ("claim", None, this[0].isoformat(), "25000.00"),
        ("tranche", "set_up_fee", (last[0] + timedelta(days=9)).isoformat(), "2500.00"),
    ]
    assert [x["due_date"] for x in following["tranches"]] == [(last[0] + timedelta(days=9)).isoformat()]
    again = check(
        await outcomes.get(f"/v1/payment-statements/{issued['id']}", headers=cast.payer_a.headers), 200
    )
    assert (again["total"], again["content_hash"]) == ("25000.00", issued["content_hash"])
    earlier = await _statement(outcomes, cast, contract_id, cast.payer_a, previous)
    assert [(x["kind"], x["amount"]) for x in earlier["lines"]] == [("tranche", "1000.00")]

    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.investor.headers,
        ),
        200,
    )
    booked = sorted(
        (e["data"]["working"]["amount"], e["data"]["late"], e["data"]["contract_version_id"])
        for e in feed
        if e["type"] == "dk.effekt.tranche.booked"
    )
    assert booked == [("1000.00", False, str(version_id)), ("2500.00", True, str(version_id))]
    document = catalogue()
    validator = payload_validator(document, catalogued_types(document)["dk.effekt.tranche.booked"])
    assert all(not list(validator.iter_errors(e)) for e in feed if e["type"] == "dk.effekt.tranche.booked")
