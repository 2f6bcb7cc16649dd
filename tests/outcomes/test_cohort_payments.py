"""Cohort formula outcomes through the public API, on the worked example of docs/contract-terms.md
("Cohort formula outcomes"): the evaluator submits a cohort's figures, the engine's payment and working
are the figures computed by hand, the payer approves it (never the evaluator who submitted it, nor
another payer), and it lands once as a `cohort` line on the payer's statement, whose total is the hand
figure; the cap binds across periods; every partner, investors included, reads the payment and working;
each step is a catalogued ledger event."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx

from effekt.sandbox.terms import cohort_outcome, v2_terms, window
from kit.auth import Principal
from services.outcomes import access
from services.outcomes.cohorts.models import CohortPayment
from tests.actors import Actor, Cast
from tests.gateway.support import gid
from tests.outcomes.integrations.published import catalogue, catalogued_types, payload_validator
from tests.outcomes.support import TODAY, active_contract, check, key, quarter

D = Decimal
HORIZON = (TODAY - timedelta(days=730), TODAY + timedelta(days=365))
YEAR_1 = (TODAY - timedelta(days=730), TODAY - timedelta(days=366))
YEAR_2 = (TODAY - timedelta(days=365), TODAY - timedelta(days=1))
# The worked example's figures: means per person over the period, cohort against control group.
FIGURES = [
    {"code": "benefits_paid", "cohort": "8125.50", "comparison": "8480.25"},
    {"code": "taxes_paid", "cohort": "2210.40", "comparison": "2105.125"},
]


def _terms(cast: Cast) -> dict[str, Any]:
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    savings = cohort_outcome(
        "employment_savings", cast.payer_b.organisation_id, HORIZON, share_percent="30", cap="200000.00"
    )
    return v2_terms(
        cast.parties,
        today=TODAY,
        outcomes=[job_start],
        caps={"contract_total": "1000000.00"},
        split={
            "method": "fixed",
            "shares": [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}],
        },
        cohort_outcomes=[savings],
    )


def _body(contract_id: UUID, period: tuple[date, date], **overrides: Any) -> dict[str, Any]:
    return {
        "contract_id": str(contract_id),
        "cohort_outcome_code": "employment_savings",
        "cohort": "2024-A",
        "period_start": period[0].isoformat(),
        "period_end": period[1].isoformat(),
        "cohort_size": 997,
        "comparison_size": 1003,
        "figures": FIGURES,
    } | overrides


async def _submit(outcomes: httpx.AsyncClient, actor: Actor, body: dict[str, Any]) -> httpx.Response:
    return await outcomes.post("/v1/cohort-payments", json=body, headers={**actor.headers, **key()})


async def _decide(
    outcomes: httpx.AsyncClient, actor: Actor, payment: dict[str, Any], decision: str = "approved"
) -> httpx.Response:
    return await outcomes.post(
        f"/v1/cohort-payments/{payment['id']}/decision",
        json={"decision": decision}
        | ({"reason": "figures to be re-measured"} if decision == "rejected" else {}),
        headers={**actor.headers, **key(), "If-Match": f'"{payment["version"]}"'},
    )


async def _statement(outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, payer: Actor) -> Any:
    start, end = quarter(TODAY)
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


async def test_the_worked_example_pays_the_hand_computed_figures_on_the_payers_statement(
    shared_cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    cast = shared_cast
    contract_id, version_id = await active_contract(contracts, cast, _terms(cast))

    first = check(await _submit(outcomes, cast.evaluator, _body(contract_id, YEAR_1)), 201)
    # By hand: benefits 8480.25 - 8125.50 = 354.75 and taxes 2210.40 - 2105.125 = 105.275 a person, so
    # 460.025 a person; x 997 people = 458644.925; x 30 % = 137593.4775, rounded half up to DKK 137,593.48.
    assert (first["status"], first["amount"], first["payer_organisation_id"]) == (
        "submitted",
        "137593.48",
        str(cast.payer_b.organisation_id),
    )
    working = first["working"]
    assert working["intermediate"] == {
        "gains_per_person": {"benefits_paid": "354.75", "taxes_paid": "105.275"},
        "gain_per_person": "460.025",
        "gain": "458644.925",
        "share": "137593.4775",
    }
    assert working["rounding"] == {"rule": "half up", "minor_unit": "0.01", "rounded": "137593.48"}
    assert working["bounds"] == {"lower": "0.00", "upper": "200000.00", "applied": None}
    assert (working["amount"], working["comparison"]) == ("137593.48", "randomised_control")
    assert (working["inputs"]["cohort_size"], working["inputs"]["comparison_size"]) == (997, 1003)
    assert all(code in working["formula"] for code in ("benefits_paid", "taxes_paid"))
    assert first["contract_version_id"] == str(version_id)

    # Four-eyes: the evaluator who submitted the figures cannot approve them; nor can another payer.
    refused = await _decide(outcomes, cast.evaluator, first)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "not-allowed-to-decide"
    other = await _decide(outcomes, cast.payer_a, first)
    assert (other.status_code, other.json()["code"]) == (403, "not-allowed-to-decide")
    # The same figures for the same cohort and period are not submitted twice.
    again = await _submit(outcomes, cast.evaluator, _body(contract_id, YEAR_1))
    assert (again.status_code, again.json()["code"]) == (409, "cohort-payment-exists")

    approved = check(await _decide(outcomes, cast.payer_b, first), 200)
    assert (approved["status"], approved["amount"]) == ("approved", "137593.48")
    assert approved["decided_by_organisation_id"] == str(cast.payer_b.organisation_id)
    twice = await _decide(outcomes, cast.payer_b, approved)
    assert (twice.status_code, twice.json()["code"]) == (409, "cohort-payment-decided")

    statement = await _statement(outcomes, cast, contract_id, cast.payer_b)
    assert statement["total"] == "137593.48"
    assert [(x["kind"], x["cohort_code"], x["claim_id"], x["amount"]) for x in statement["lines"]] == [
        ("cohort", "employment_savings", None, "137593.48")
    ]
    assert [(c["cohort_payment_id"], c["amount"]) for c in statement["cohorts"]] == [
        (first["id"], "137593.48")
    ]

    # Year 2, the same figures: 137,593.48 again by the formula, but the cap leaves 200,000.00 - 137,593.48
    # = 62,406.52, which is what is paid; the statement then totals the cap, 200,000.00.
    second = check(await _submit(outcomes, cast.evaluator, _body(contract_id, YEAR_2)), 201)
    assert (second["amount"], second["working"]["bounds"]) == (
        "62406.52",
        {"lower": "0.00", "upper": "62406.52", "applied": "cap"},
    )
    assert second["working"]["rounding"]["rounded"] == "137593.48"
    check(await _decide(outcomes, cast.payer_b, second), 200)
    refreshed = await _statement(outcomes, cast, contract_id, cast.payer_b)
    assert refreshed["total"] == "200000.00"
    assert refreshed["total"] == str(sum((D(x["amount"]) for x in refreshed["lines"]), D(0)))
    assert sorted(x["amount"] for x in refreshed["lines"]) == ["137593.48", "62406.52"]
    # Payer A's statement carries none of it.
    assert (await _statement(outcomes, cast, contract_id, cast.payer_a))["total"] == "0.00"

    # Investors read the payment with its working, and the statement's cohort totals (no lines).
    seen = check(await outcomes.get(f"/v1/cohort-payments/{first['id']}", headers=cast.investor.headers), 200)
    assert seen["working"] == approved["working"]
    totals = check(
        await outcomes.get(f"/v1/payment-statements/{refreshed['id']}", headers=cast.investor.headers), 200
    )
    assert (totals["lines"], [c["amount"] for c in totals["cohorts"]]) == (None, ["137593.48", "62406.52"])
    # The gateway shows investors the statement's cohort payments; the payer its `cohort` lines too.
    query = (
        "query($id: ID!) { partnership(id: $id) { statements { uuid total "
        "cohorts { cohortOutcomeCode amount } %s } } }"
    )
    for actor, lines in ((cast.investor, ""), (cast.payer_b, "lines { kind cohortCode amount }")):
        response = await gateway.post(
            "/graphql",
            json={"query": query % lines, "variables": {"id": gid("Partnership", cast.partnership_id)}},
            headers={"Accept": "application/graphql-response+json", **actor.headers},
        )
        assert response.status_code == 200, response.text
        [shown] = [
            x for x in response.json()["data"]["partnership"]["statements"] if x["uuid"] == refreshed["id"]
        ]
        assert shown["total"] == "200000.00"
        assert [c["amount"] for c in shown["cohorts"]] == ["137593.48", "62406.52"]
        if lines:
            assert sorted(x["amount"] for x in shown["lines"] if x["kind"] == "COHORT") == [
                "137593.48",
                "62406.52",
            ]
    listed = check(
        await outcomes.get(
            "/v1/cohort-payments", params={"contract_id": str(contract_id)}, headers=cast.observer.headers
        ),
        200,
    )
    assert sorted(p["id"] for p in listed["items"]) == sorted([first["id"], second["id"]])
    assert (
        await outcomes.get(f"/v1/cohort-payments/{first['id']}", headers=cast.outsider.headers)
    ).status_code == 404

    # Issued, the statement keeps its total, hashes its cohort lines and is summarised under the cohort
    # outcome's code for the audiences of aggregates.
    issued = check(
        await outcomes.post(
            f"/v1/payment-statements/{refreshed['id']}/issue",
            headers={**cast.provider.headers, **key(), "If-Match": f'"{refreshed["version"]}"'},
        ),
        200,
    )
    assert (issued["status"], issued["total"], bool(issued["content_hash"])) == ("issued", "200000.00", True)

    # Every step is one ledger event as the catalogue describes it, the working in it, nothing person-level.
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.investor.headers,
        ),
        200,
    )
    ours = [
        e
        for e in feed
        if e["type"].startswith("dk.effekt.cohort_payment.") and e["data"]["contract_id"] == str(contract_id)
    ]
    assert sorted(e["type"].rsplit(".", 1)[1] for e in ours) == sorted(
        ["submitted", "submitted", "approved", "approved", "booked", "booked"]
    )
    booked = [e for e in ours if e["type"] == "dk.effekt.cohort_payment.booked"]
    assert sorted(e["data"]["working"]["amount"] for e in booked) == ["137593.48", "62406.52"]
    [summary] = [
        e
        for e in feed
        if e["type"] == "dk.effekt.statement.summarised" and e["data"]["statement_id"] == refreshed["id"]
    ]
    assert summary["data"]["outcomes"] == [
        {
            "outcome_code": "employment_savings",
            "kind": "cohort",
            "lines": 2,
            "amount": "200000.00",
            "suppressed": [],
        }
    ]
    document = catalogue()
    types = catalogued_types(document)
    for event in [*ours, summary]:
        assert not list(payload_validator(document, types[event["type"]]).iter_errors(event)), event


async def test_a_rejected_payment_books_nothing_and_its_period_may_be_submitted_again(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, _terms(cast))
    first = check(await _submit(outcomes, cast.evaluator, _body(contract_id, YEAR_1)), 201)
    rejected = check(await _decide(outcomes, cast.payer_b, first, "rejected"), 200)
    assert (rejected["status"], rejected["reason"]) == ("rejected", "figures to be re-measured")
    # Corrected figures: the cohort's taxes were 2105.125 too, so only the benefits gain counts:
    # 354.75 x 997 = 353685.75, x 30 % = 106105.725: exactly half a øre, rounded up to DKK 106,105.73.
    corrected = [FIGURES[0], {"code": "taxes_paid", "cohort": "2105.125", "comparison": "2105.125"}]
    second = check(
        await _submit(outcomes, cast.evaluator, _body(contract_id, YEAR_1, figures=corrected)), 201
    )
    assert second["amount"] == "106105.73"
    assert (await _statement(outcomes, cast, contract_id, cast.payer_b))[
        "total"
    ] == "0.00"  # not yet approved
    check(await _decide(outcomes, cast.payer_b, second), 200)
    assert (await _statement(outcomes, cast, contract_id, cast.payer_b))["total"] == "106105.73"
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "type": "dk.effekt.cohort_payment.rejected"},
            headers=cast.investor.headers,
        ),
        200,
    )
    [event] = [e for e in feed if e["type"] == "dk.effekt.cohort_payment.rejected"]
    assert (event["data"]["cohort_payment_id"], event["data"]["reason"]) == (
        first["id"],
        "figures to be re-measured",
    )
    document = catalogue()
    validator = payload_validator(document, catalogued_types(document)["dk.effekt.cohort_payment.rejected"])
    assert not list(validator.iter_errors(event)), event


async def test_figures_the_terms_do_not_allow_are_refused_naming_the_path(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, _terms(cast))
    outside = (HORIZON[1] + timedelta(days=1), HORIZON[1] + timedelta(days=30))
    cases: dict[str, dict[str, Any]] = {
        "body.cohort_outcome_code": {"cohort_outcome_code": "reoffending"},
        "body.period_end": {"period_end": outside[1].isoformat()},
        "body.cohort_size": {"cohort_size": 1001},
        "body.figures.1.code": {"figures": [FIGURES[0], FIGURES[0] | {"code": "income"}]},
        "body.figures": {"figures": [FIGURES[0]]},
        "body.figures.0.cohort": {"figures": [FIGURES[0] | {"cohort": 8125.5}, FIGURES[1]]},
    }
    for path, overrides in cases.items():
        response = await _submit(outcomes, cast.evaluator, _body(contract_id, YEAR_1, **overrides))
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert path in [p["name"] for p in response.json()["invalid_params"]], (path, response.json())
    # Only the evaluator submits figures: a payer or the provider is refused.
    for actor in (cast.payer_b, cast.provider):
        response = await _submit(outcomes, actor, _body(contract_id, YEAR_1))
        assert response.status_code == 403, response.text


def test_the_submitting_organisation_and_user_never_approve_even_as_the_payer() -> None:
    """Four-eyes beyond the matrix: an organisation holding the payer's role that submitted the figures
    (or whose user did) may not approve them; an evaluator never may."""
    partnership, payer = uuid4(), uuid4()
    payment = CohortPayment(
        partnership_id=partnership,
        payer_organisation_id=payer,
        submitted_by_organisation_id=payer,
        submitted_by="user-1",
    )

    def principal(organisation: UUID, subject: str, *roles: str) -> Principal:
        return Principal(
            subject=subject,
            kind="user",
            organisation_id=organisation,
            partner_type="municipality",
            scopes=frozenset({"outcomes:verify"}),
            memberships={partnership: frozenset(roles)},
        )

    assert access.cohort_approval_refusal(principal(payer, "user-2", "outcome_payer"), payment)
    other_org = CohortPayment(
        partnership_id=partnership,
        payer_organisation_id=payer,
        submitted_by_organisation_id=uuid4(),
        submitted_by="user-1",
    )
    assert access.cohort_approval_refusal(principal(payer, "user-1", "outcome_payer"), other_org)
    assert access.cohort_approval_refusal(principal(payer, "user-2", "outcome_payer", "evaluator"), other_org)
    assert access.cohort_approval_refusal(principal(payer, "user-2", "outcome_payer"), other_org) is None
