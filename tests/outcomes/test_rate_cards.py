"""Realistic rate cards priced through the public API, compared with totals computed by hand.

The employment card follows the shape of the UK Work Programme's differential payment model (payment groups
fixed at referral priced differently, a job outcome, a part-time/full-time distinction; House of Commons
Library, Standard Note SN/EP/6340, "Work Programme", 2013) combined with the Danish co-funding pattern of
the Den Sociale Investeringsfond deals (a national fund pays a fixed share, the home municipality the rest).
The amounts are this test's own, so that every total below can be checked by hand.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx

from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import outcome, window
from effekt.sandbox.terms import v2_terms as sandbox_v2_terms
from services.outcomes.chain import verify_chain
from services.outcomes.feed.service import chain_item
from tests.actors import Cast
from tests.gateway.support import gid, gql
from tests.outcomes.integrations.published import catalogue, catalogued_types, payload_validator
from tests.outcomes.support import (
    TODAY,
    active_contract,
    amend_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    key,
    quarter,
)

D = Decimal


def v2_terms(cast: Cast, **parts: Any) -> dict[str, Any]:
    return sandbox_v2_terms(cast.parties, today=TODAY, **parts)


def employment_card(cast: Cast) -> dict[str, Any]:
    """One job-start family banded by hours a week, priced per payment group, with a volume tier on
    full-time starts; the national fund (payer B) pays 25 % up to its maximum of 12 000 kr."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "criteria": [{"fact": "off_benefit", "op": "eq", "value": True}],
        "bands": {
            "fact": "hours_per_week",
            "bands": [
                {
                    "code": "part_time",
                    "from": "8",
                    "to": "16",
                    "tariff": {"by_segment": {"jsa": "8000.00", "esa": "12000.00"}},
                },
                {
                    "code": "full_time",
                    "from": "16",
                    "to": None,
                    "tiers": [
                        {"up_to": 2, "tariff": {"by_segment": {"jsa": "16000.00", "esa": "22000.00"}}},
                        {"up_to": None, "tariff": {"by_segment": {"jsa": "12000.00", "esa": "18000.00"}}},
                    ],
                },
            ],
        },
    }
    return v2_terms(
        cast,
        segments={"name": "payment_group", "values": ["jsa", "esa"]},
        outcomes=[job_start],
        caps={
            "contract_total": "100000.00",
            "per_payer": [{"organisation_id": str(cast.payer_b.organisation_id), "amount": "12000.00"}],
        },
        split={
            "method": "mixed",
            "fixed": [{"organisation_id": str(cast.payer_b.organisation_id), "percent": "25"}],
            "rest": {
                "method": "residence",
                "municipalities": [
                    {"organisation_id": str(cast.payer_a.organisation_id), "municipality_code": "657"}
                ],
            },
        },
    )


async def _person(outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, n: int, **extra: Any) -> str:
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(n),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=60),
        **extra,
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    return str(person["id"])


def _split(priced: dict[str, Any]) -> dict[UUID, str]:
    return {UUID(x["payer_organisation_id"]): x["amount"] for x in priced["split"]}


async def test_the_employment_card_prices_bands_segments_tiers_and_the_funds_maximum_as_by_hand(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_card(cast))
    fund, home = cast.payer_b.organisation_id, cast.payer_a.organisation_id
    refused = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(90),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=60),
        status=422,
    )
    assert refused["code"] == "segment-invalid"
    people = [
        await _person(outcomes, cast, contract_id, n, segment=s)
        for n, s in enumerate(["jsa", "esa", "esa", "jsa"])
    ]
    achieved = TODAY - timedelta(days=5)

    too_few = await claim(
        outcomes,
        cast.provider,
        people[0],
        "job_start",
        achieved,
        facts={"hours_per_week": "6", "off_benefit": True},
        status=422,
    )
    assert too_few["code"] == "criteria-not-met"
    assert too_few["invalid_params"][0]["name"] == "body.facts.hours_per_week"
    on_benefit = await claim(
        outcomes,
        cast.provider,
        people[0],
        "job_start",
        achieved,
        facts={"hours_per_week": "37", "off_benefit": False},
        status=422,
    )
    assert on_benefit["invalid_params"][0]["name"] == "body.facts.off_benefit"

    priced = []
    for person, hours in zip(people, ["37", "10", "20", "12"], strict=True):
        made = await claim(
            outcomes,
            cast.provider,
            person,
            "job_start",
            achieved,
            facts={"hours_per_week": hours, "off_benefit": True},
        )
        priced.append(await decide(outcomes, cast.payer_a, made["id"], "verified"))

    # By hand: full-time jsa, tier 0: 16 000 (fund 4 000); part-time esa: 12 000 (fund 3 000); full-time esa,
    # third full-or-part start so tier 1: 18 000 (fund 4 500, 11 500 in all); part-time jsa 8 000: the fund's
    # 2 000 share meets its 500 of room, so 1 500 is cut and the municipality still pays its 6 000.
    assert [(p["band"], p["tier"], p["tariff"], p["payable"]) for p in priced] == [
        ("full_time", 0, "16000.00", "16000.00"),
        ("part_time", None, "12000.00", "12000.00"),
        ("full_time", 1, "18000.00", "18000.00"),
        ("part_time", None, "8000.00", "6500.00"),
    ]
    assert [_split(p) for p in priced] == [
        {fund: "4000.00", home: "12000.00"},
        {fund: "3000.00", home: "9000.00"},
        {fund: "4500.00", home: "13500.00"},
        {fund: "500.00", home: "6000.00"},
    ]
    assert priced[3]["cut_reasons"] == [{"cap": f"per_payer:{fund}", "amount": "1500.00"}]
    assert priced[0]["facts"] == {"hours_per_week": "37", "off_benefit": True}

    start, end = quarter(TODAY)
    totals = {}
    for payer in (cast.payer_a, cast.payer_b):
        statement = check(
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
        assert statement["total"] == str(sum((D(x["amount"]) for x in statement["lines"]), D(0)))
        totals[payer.organisation_id] = statement["total"]
    assert totals == {home: "40500.00", fund: "12000.00"}


async def test_concurrent_verifications_fill_each_tier_and_the_count_cap_exactly(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """A volume-tiered start (the first 3 at 20 000, then 15 000) capped at 6 paid starts, 9 verified at
    once: exactly 3 at the first price, 3 at the second, 3 cut whole by the count cap."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tiers": [{"up_to": 3, "tariff": "20000.00"}, {"up_to": None, "tariff": "15000.00"}],
        "cap": {"count": 6},
    }
    terms = v2_terms(
        cast,
        outcomes=[job_start],
        caps={"contract_total": "1000000.00"},
        split={
            "method": "fixed",
            "shares": [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}],
        },
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    claims = []
    for n in range(9):
        person = await _person(outcomes, cast, contract_id, 100 + n)
        claims.append(await claim(outcomes, cast.provider, person, "job_start", TODAY - timedelta(days=3)))
    priced = await asyncio.gather(*(decide(outcomes, cast.payer_a, c["id"], "verified") for c in claims))
    assert sorted((p["tier"], p["payable"]) for p in priced) == [
        (0, "20000.00"), (0, "20000.00"), (0, "20000.00"),
        (1, "0.00"), (1, "0.00"), (1, "0.00"),
        (1, "15000.00"), (1, "15000.00"), (1, "15000.00"),
    ]  # fmt: skip
    assert sum(D(p["payable"]) for p in priced) == D("105000.00")
    assert sorted(p["cut_reasons"][0]["cap"] for p in priced if p["cut_reasons"]) == ["outcome_count"] * 3


async def test_a_three_decimal_currency_is_priced_split_and_stated_to_the_fils(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """A Bahraini-dinar card: 1 250.125 BHD split 50/50 is 625.063 + 625.062 (largest remainder, ties to
    the first payer), stored and stated exactly."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "1250.125",
    }
    half = [
        {"organisation_id": str(p.organisation_id), "percent": "50"} for p in (cast.payer_a, cast.payer_b)
    ]
    terms = v2_terms(
        cast, outcomes=[job_start], caps={}, split={"method": "fixed", "shares": half}, currency="BHD"
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    person = await _person(outcomes, cast, contract_id, 200)
    made = await claim(outcomes, cast.provider, person, "job_start", TODAY - timedelta(days=2))
    priced = await decide(outcomes, cast.payer_a, made["id"], "verified")
    assert (priced["currency"], priced["tariff"], priced["payable"]) == ("BHD", "1250.125", "1250.125")
    assert _split(priced) == {
        cast.payer_a.organisation_id: "625.063",
        cast.payer_b.organisation_id: "625.062",
    }


async def _statement(outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, payer: Any, day: Any) -> Any:
    start, end = quarter(day)
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


async def test_on_an_achievement_basis_a_claim_falls_in_the_period_it_was_achieved_in(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """Achieved last quarter, verified today: last quarter's statement carries it as a claim line (on the
    default verification basis it would be this quarter's)."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": "25000.00",
    }
    sole = [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}]
    terms = v2_terms(
        cast,
        outcomes=[job_start],
        caps={},
        split={"method": "fixed", "shares": sole},
        statement_basis="achievement",
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(300),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=200),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    last_quarter = quarter(TODAY)[0] - timedelta(days=10)
    made = await claim(outcomes, cast.provider, person["id"], "job_start", last_quarter)
    priced = await decide(outcomes, cast.payer_a, made["id"], "verified")
    assert priced["payment_period"] == f"{last_quarter.year}-Q{(last_quarter.month - 1) // 3 + 1}"
    earlier = await _statement(outcomes, cast, contract_id, cast.payer_a, last_quarter)
    assert (earlier["basis"], earlier["total"]) == ("achievement", "25000.00")
    assert [(x["kind"], x["claim_id"]) for x in earlier["lines"]] == [("claim", made["id"])]
    now = await _statement(outcomes, cast, contract_id, cast.payer_a, TODAY)
    assert (now["total"], now["lines"]) == ("0.00", [])


async def test_a_retroactive_amendment_books_the_difference_on_the_next_statement(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """Two starts at 25 000 (split 60/40), achieved 20 and 5 days ago; an amendment effective 10 days ago
    raises the price to 30 000. By hand: the later start gains 5 000 (3 000 + 2 000), the earlier keeps
    its price, so Herning owes 15 000 + 15 000 + 3 000 and Viborg 10 000 + 10 000 + 2 000."""
    terms = employment_terms(cast, outcomes=[outcome("job_start", "25000.00")])
    contract_id, first_version = await active_contract(contracts, cast, terms)
    made = []
    for n, days in enumerate((20, 5)):
        person = await _person(outcomes, cast, contract_id, 400 + n)
        made.append(await claim(outcomes, cast.provider, person, "job_start", TODAY - timedelta(days=days)))
        await decide(outcomes, cast.payer_a, made[-1]["id"], "verified")

    amended = copy.deepcopy(terms)
    amended["outcomes"][0]["tariff"] = "30000.00"
    amended["start_date"] = (TODAY - timedelta(days=10)).isoformat()
    draft = check(
        await contracts.post(
            f"/v1/contracts/{contract_id}/amendments",
            json={"terms": amended},
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )
    proposed = check(
        await contracts.post(
            f"/v1/contract-versions/{draft['id']}/proposal", headers={**cast.provider.headers, **key()}
        ),
        200,
    )
    for signer in (cast.payer_a, cast.payer_b, cast.provider):
        check(
            await contracts.post(
                f"/v1/contract-versions/{draft['id']}/signatures",
                json={"content_hash": proposed["content_hash"]},
                headers={**signer.headers, **key()},
            ),
            201,
        )

    herning = await _statement(outcomes, cast, contract_id, cast.payer_a, TODAY)
    assert herning["total"] == "33000.00"
    assert sorted(
        (x["kind"], x["claim_id"], x["amount"], x["repriced_by_version_id"]) for x in herning["lines"]
    ) == sorted(
        [
            ("claim", made[0]["id"], "15000.00", None),
            ("claim", made[1]["id"], "15000.00", None),
            ("adjustment", made[1]["id"], "3000.00", draft["id"]),
        ]
    )
    viborg = await _statement(outcomes, cast, contract_id, cast.payer_b, TODAY)
    assert viborg["total"] == "22000.00"
    again = await _statement(outcomes, cast, contract_id, cast.payer_a, TODAY)
    assert (again["total"], len(again["lines"])) == ("33000.00", 3)  # replaying again books nothing

    later = check(
        await outcomes.get(f"/v1/outcome-claims/{made[1]['id']}", headers=cast.payer_a.headers), 200
    )
    earlier = check(
        await outcomes.get(f"/v1/outcome-claims/{made[0]['id']}", headers=cast.payer_a.headers), 200
    )
    assert (later["payable"], later["priced_contract_version_id"]) == ("30000.00", draft["id"])
    assert (earlier["payable"], earlier["priced_contract_version_id"]) == ("25000.00", str(first_version))

    # Every partner learns of it from the feed, as the event catalogue describes it.
    document = catalogue()
    feed = check(
        await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=cast.payer_a.headers,
        ),
        200,
    )
    repriced = [e for e in feed if e["type"] == "dk.effekt.claim.repriced"]
    ours = [e["data"]["claim_id"] for e in repriced if e["data"]["contract_id"] == str(contract_id)]
    assert ours == [made[1]["id"]]
    validator = payload_validator(document, catalogued_types(document)["dk.effekt.claim.repriced"])
    assert all(not list(validator.iter_errors(e)) for e in repriced)


async def test_a_lost_job_ends_the_start_and_sustainment_counts_from_the_next_one(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """A start that recurs (up to 3), ended by `job_lost`; `sustained_13w` opens 91 days after the latest
    start that had not ended. After the first job is lost, 13 weeks on is refused; after a new start it is
    counted from that one; a third start is the last the terms' `max_per_participant` of 3 allows."""
    outcomes_ = [
        {
            "code": "job_start",
            "name": "Job start",
            "verifier_roles": ["outcome_payer"],
            "window": window(),
            "tariff": "20000.00",
            "repeat": {"max_per_participant": 3, "recurs": True},
            "ended_by": ["job_lost"],
        },
        {
            "code": "job_lost",
            "name": "Job lost",
            "verifier_roles": ["outcome_payer"],
            "window": window(),
            "tariff": "0.00",
            "repeat": {"max_per_participant": 3, "recurs": False},
        },
        {
            "code": "sustained_13w",
            "name": "Sustained 13 weeks",
            "verifier_roles": ["outcome_payer"],
            "prerequisites": ["job_start"],
            "window": window(
                anchor="outcome", anchor_outcome="job_start", opens_after_days=91, closes_after_days=365
            ),
            "tariff": "15000.00",
        },
    ]
    sole = [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}]
    terms = v2_terms(cast, outcomes=outcomes_, caps={}, split={"method": "fixed", "shares": sole})
    contract_id, _ = await active_contract(contracts, cast, terms)
    person = await enrol(
        outcomes, cast.provider, cast, contract_id, synthetic_cpr(500), municipality_code="657",
        enrolment_date=TODAY - timedelta(days=400),
    )  # fmt: skip
    await confirm(outcomes, cast.payer_a, person["id"])
    pid = person["id"]

    async def verified(code: str, days_ago: int) -> None:
        made = await claim(outcomes, cast.provider, pid, code, TODAY - timedelta(days=days_ago))
        await decide(outcomes, cast.payer_a, made["id"], "verified")

    await verified("job_start", 380)
    await verified("job_lost", 300)
    ended = await claim(
        outcomes, cast.provider, pid, "sustained_13w", TODAY - timedelta(days=200), status=422
    )
    assert ended["code"] == "start-ended"
    await verified("job_start", 150)
    made = await claim(outcomes, cast.provider, pid, "sustained_13w", TODAY - timedelta(days=50))
    assert made["status"] == "claimed"
    too_early = await claim(
        outcomes, cast.provider, pid, "sustained_13w", TODAY - timedelta(days=70), status=422
    )
    assert too_early["code"] == "outside-outcome-window"  # 91 days from the second start, not the first
    await verified("job_lost", 40)
    await verified("job_start", 30)  # a third start: the most the terms allow one participant
    fourth = await claim(outcomes, cast.provider, pid, "job_start", TODAY - timedelta(days=20), status=422)
    assert (fourth["code"], fourth["invalid_params"][0]["name"]) == (
        "per-participant-maximum",
        "body.outcome_code",
    )


async def test_the_feed_adds_segments_and_facts_for_person_level_readers_only(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_card(cast))
    person = await _person(outcomes, cast, contract_id, 600, segment="esa")
    made = await claim(
        outcomes, cast.provider, person, "job_start", TODAY - timedelta(days=3),
        facts={"hours_per_week": "20", "off_benefit": True},
    )  # fmt: skip
    await decide(outcomes, cast.payer_a, made["id"], "verified")

    async def feed_of(actor: Any) -> tuple[str, list[dict[str, Any]]]:
        response = await outcomes.get(
            "/v1/feed", params={"partnership": str(cast.partnership_id)}, headers=actor.headers
        )
        assert response.status_code == 200, response.text
        return response.text, response.json()

    _, items = await feed_of(cast.evaluator)
    by_type = {e["type"].removeprefix("dk.effekt."): e for e in items}
    assert by_type["participant.enrolled"]["participantsegment"] == "esa"
    assert by_type["claim.submitted"]["claimfacts"] == '{"hours_per_week":"20","off_benefit":true}'
    assert (by_type["claim.verified"]["data"]["band"], by_type["claim.verified"]["data"]["tier"]) == (
        "full_time",
        0,
    )
    assert verify_chain([chain_item(e) for e in items]).valid
    text, items = await feed_of(cast.investor)
    assert "participantsegment" not in text
    assert "claimfacts" not in text
    assert "hours_per_week" not in text
    assert verify_chain([chain_item(e) for e in items]).valid


async def test_a_retroactive_amendment_re_maps_one_segments_price_and_the_graph_shows_the_adjustment(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    """Job starts priced per segment (standard 20 000, high 26 000), split 60/40, one of each achieved 5
    days ago and verified; an amendment effective 10 days ago re-maps only `high` to 30 000. By hand: the
    high start gains 4 000 (Herning 2 400, Viborg 1 600), the standard one keeps its price, so Herning owes
    12 000 + 15 600 + 2 400 = 30 000 and Viborg 8 000 + 10 400 + 1 600 = 20 000. The payer reads the
    adjustment line in the graph, naming the amendment; an investor's schema has no statement lines."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tariff": {"by_segment": {"standard": "20000.00", "high": "26000.00"}},
    }
    sixty_forty = [
        {"organisation_id": str(cast.payer_a.organisation_id), "percent": "60"},
        {"organisation_id": str(cast.payer_b.organisation_id), "percent": "40"},
    ]
    terms = v2_terms(
        cast,
        segments={"name": "support_need", "values": ["standard", "high"]},
        outcomes=[job_start],
        caps={},
        split={"method": "fixed", "shares": sixty_forty},
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    made = {}
    for n, segment in enumerate(("standard", "high")):
        person = await _person(outcomes, cast, contract_id, 700 + n, segment=segment)
        made[segment] = await claim(outcomes, cast.provider, person, "job_start", TODAY - timedelta(days=5))
        priced = await decide(outcomes, cast.payer_a, made[segment]["id"], "verified")
        assert priced["payable"] == {"standard": "20000.00", "high": "26000.00"}[segment]

    amended = copy.deepcopy(terms)
    amended["outcomes"][0]["tariff"]["by_segment"]["high"] = "30000.00"
    amended["start_date"] = (TODAY - timedelta(days=10)).isoformat()
    amendment = await amend_contract(contracts, cast, contract_id, amended)

    herning = await _statement(outcomes, cast, contract_id, cast.payer_a, TODAY)
    assert herning["total"] == "30000.00"
    assert sorted((x["kind"], x["claim_id"], x["amount"]) for x in herning["lines"]) == sorted(
        [
            ("claim", made["standard"]["id"], "12000.00"),
            ("claim", made["high"]["id"], "15600.00"),
            ("adjustment", made["high"]["id"], "2400.00"),
        ]
    )
    viborg = await _statement(outcomes, cast, contract_id, cast.payer_b, TODAY)
    assert viborg["total"] == "20000.00"
    high = check(
        await outcomes.get(f"/v1/outcome-claims/{made['high']['id']}", headers=cast.payer_a.headers), 200
    )
    standard = check(
        await outcomes.get(f"/v1/outcome-claims/{made['standard']['id']}", headers=cast.payer_a.headers), 200
    )
    assert (high["payable"], standard["payable"]) == ("30000.00", "20000.00")

    query = (
        "query($id: ID!) { partnership(id: $id) { statements { uuid lines "
        "{ kind claimId amount repricedByVersionId } } } }"
    )
    graph = await gql(gateway, cast.payer_a, query, {"id": gid("Partnership", cast.partnership_id)})
    [stated] = [s for s in graph["data"]["partnership"]["statements"] if s["uuid"] == herning["id"]]
    assert [x for x in stated["lines"] if x["kind"] == "ADJUSTMENT"] == [
        {
            "kind": "ADJUSTMENT",
            "claimId": made["high"]["id"],
            "amount": "2400.00",
            "repricedByVersionId": str(amendment),
        }
    ]
    investor = await gql(gateway, cast.investor, '{ __type(name: "StatementLine") { name } }')
    assert investor["data"]["__type"] is None


async def test_a_cap_of_every_scope_binds_through_the_api_and_names_its_cut(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """Two outcomes at 10 000 (job starts capped at 25 000 in all), 15 000 per participant, 30 000 per
    quarter, 45 000 in all, on an achievement basis. By hand, in verification order: a first start pays
    10 000; the same participant's sustainment 5 000 (per_participant cuts 5 000); a second start 10 000; a
    third, last quarter, 5 000 (outcome_amount cuts 5 000); a sustainment this quarter 5 000 (per_period
    cuts 5 000); one last quarter 10 000; the next nothing (contract_total cuts 10 000). This quarter's
    statement is 30 000, last quarter's 15 000: 45 000, the contract's total."""
    flat = {"verifier_roles": ["outcome_payer"], "window": window(), "tariff": "10000.00"}
    terms = v2_terms(
        cast,
        outcomes=[
            flat | {"code": "job_start", "name": "Job start", "cap": {"amount": "25000.00"}},
            flat | {"code": "sustained", "name": "Sustained"},
        ],
        caps={"per_participant": "15000.00", "per_period": "30000.00", "contract_total": "45000.00"},
        split={
            "method": "fixed",
            "shares": [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}],
        },
        statement_basis="achievement",
    )
    contract_id, _ = await active_contract(contracts, cast, terms)
    this_quarter = quarter(TODAY)[0]
    last_quarter = this_quarter - timedelta(days=10)

    async def person(n: int) -> str:
        made = await enrol(
            outcomes, cast.provider, cast, contract_id, synthetic_cpr(800 + n), municipality_code="657",
            enrolment_date=TODAY - timedelta(days=200),
        )  # fmt: skip
        await confirm(outcomes, cast.payer_a, made["id"])
        return str(made["id"])

    first, second, third, fourth, fifth, sixth = [await person(n) for n in range(6)]
    steps = [
        (first, "job_start", this_quarter, "10000.00", []),
        (first, "sustained", this_quarter, "5000.00", [("per_participant", "5000.00")]),
        (second, "job_start", this_quarter, "10000.00", []),
        (third, "job_start", last_quarter, "5000.00", [("outcome_amount", "5000.00")]),
        (fourth, "sustained", this_quarter, "5000.00", [("per_period", "5000.00")]),
        (fifth, "sustained", last_quarter, "10000.00", []),
        (sixth, "sustained", last_quarter, "0.00", [("contract_total", "10000.00")]),
    ]
    for who, code, achieved, payable, cuts in steps:
        made = await claim(outcomes, cast.provider, who, code, achieved)
        priced = await decide(outcomes, cast.payer_a, made["id"], "verified")
        assert (priced["tariff"], priced["payable"]) == ("10000.00", payable), (code, achieved)
        assert [(c["cap"], c["amount"]) for c in priced["cut_reasons"]] == cuts, (code, achieved)
    # Last quarter's first: a statement also takes every earlier line no statement holds yet.
    before = await _statement(outcomes, cast, contract_id, cast.payer_a, last_quarter)
    now = await _statement(outcomes, cast, contract_id, cast.payer_a, this_quarter)
    assert (before["total"], now["total"]) == ("15000.00", "30000.00")
