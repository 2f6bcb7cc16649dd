"""The worked rate card of docs/contract-terms.md (`tests/contracts/rate_cards.py`), priced through the
public API with the figures the guide gives: a new user who copies the document and the claims it
describes gets exactly those prices, refusals and splits.

The card is the guide's own, dated around today and with a real outcome fund (an `outcome_funder`
organisation, org-id identified) as the payer of the fixed 30 % and the sustainment top-up.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor
from effekt.sandbox.identifiers import HERNING, synthetic_cpr
from tests.actors import Cast, add_membership, create_organisation, user_actor
from tests.contracts.rate_cards import employment_rate_card
from tests.outcomes.integrations.support import claimed_by_bulk, ndjson, post_bulk
from tests.outcomes.support import TODAY, check, claim, confirm, decide, enrol, key, quarter

D = Decimal
STARTED = TODAY - timedelta(days=300)  # the job starts
SUSTAINED = TODAY - timedelta(days=100)  # 200 days on: inside employed_26w's window (182-365 days)


async def _fund(platform: Platform, cast: Cast) -> Actor:
    organisation = await create_organisation(
        platform, "outcome_funder", "Udfaldsfonden", identifier=f"GB-GOR-EA{secrets.randbelow(9000) + 1000}"
    )
    await add_membership(platform, cast.partnership_id, organisation["id"], "outcome_payer")
    return await user_actor(platform, organisation, "signatory", "fund-signatory")


async def _documented_contract(
    platform: Platform, contracts: httpx.AsyncClient, cast: Cast
) -> tuple[UUID, Actor]:
    """The guide's card, signed by every party it names: the contract id and the fund."""
    fund = await _fund(platform, cast)
    terms = employment_rate_card(
        cast,
        fund.organisation_id,
        start_date=(TODAY - timedelta(days=400)).isoformat(),
        end_date=(TODAY + timedelta(days=700)).isoformat(),
    )
    created = check(
        await contracts.post(
            "/v1/contracts",
            json={"partnership_id": str(cast.partnership_id), "terms": terms},
            headers=cast.provider.headers | key(),
        ),
        201,
    )
    version_id = created["versions"][0]["id"]
    proposed = check(
        await contracts.post(
            f"/v1/contract-versions/{version_id}/proposal", headers=cast.provider.headers | key()
        ),
        200,
    )
    for signer in (cast.payer_a, cast.payer_b, fund, cast.provider, cast.investor):
        signed = check(
            await contracts.post(
                f"/v1/contract-versions/{version_id}/signatures",
                json={"content_hash": proposed["content_hash"]},
                headers=signer.headers | key(),
            ),
            201,
        )
    assert signed["status"] == "active", signed
    return UUID(created["id"]), fund


async def _resident(outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, n: int, segment: str) -> str:
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(n),
        municipality_code=HERNING,
        enrolment_date=TODAY - timedelta(days=380),
        segment=segment,
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    return str(person["id"])


def _split(priced: dict[str, Any], fund: Actor, cast: Cast) -> dict[str, str]:
    names = {fund.organisation_id: "fund", cast.payer_a.organisation_id: "Herning"}
    return {names[UUID(x["payer_organisation_id"])]: x["amount"] for x in priced["split"]}


async def _statement_total(
    outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, payer: UUID, day: date
) -> tuple[str, int]:
    start, end = quarter(day)
    statement = check(
        await outcomes.post(
            "/v1/payment-statements",
            json={
                "contract_id": str(contract_id),
                "payer_organisation_id": str(payer),
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            },
            headers=cast.provider.headers | key(),
        ),
        201,
    )
    assert statement["basis"] == "achievement"
    assert statement["total"] == str(sum((D(x["amount"]) for x in statement["lines"]), D("0.00")))
    return statement["total"], len(statement["lines"])


async def test_the_guides_rate_card_prices_bands_criteria_segments_and_the_funds_share_as_documented(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """By hand, from the guide: exactly 16 hours is full-time and a `high` participant's start among the
    first 100 costs 26 000 (fund 30 % = 7 800, Herning 18 200); 12.5 hours is part-time at 8 000; 7.5
    hours is in no band and refused, and so is a start on benefit; a `standard` Herning resident's 26-week
    sustainment among the first 150 is 30 000, of which the fund pays 9 000 + its top-up 5 000 = 14 000
    and Herning 21 000 (25 weeks is refused); a qualification at level 2 pays 12 000, at level 1 it is
    refused with the reason."""
    contract_id, fund = await _documented_contract(platform, contracts, cast)
    high = await _resident(outcomes, cast, contract_id, 1, "high")
    part = await _resident(outcomes, cast, contract_id, 2, "standard")
    full = await _resident(outcomes, cast, contract_id, 3, "standard")

    def started(hours: str, off_benefit: bool = True) -> dict[str, Any]:
        return {"facts": {"hours_per_week": hours, "off_benefit": off_benefit}}

    below = await claim(outcomes, cast.provider, part, "job_start", STARTED, status=422, **started("7.5"))
    assert below["invalid_params"][0]["name"] == "body.facts.hours_per_week"
    assert "in no band" in below["invalid_params"][0]["reason"]
    on_benefit = await claim(
        outcomes, cast.provider, part, "job_start", STARTED, status=422, **started("37", off_benefit=False)
    )
    assert on_benefit["invalid_params"][0]["name"] == "body.facts.off_benefit"

    priced = {}
    for person, hours in ((high, "16"), (part, "12.5"), (full, "37")):
        made = await claim(outcomes, cast.provider, person, "job_start", STARTED, **started(hours))
        priced[person] = await decide(outcomes, cast.payer_a, made["id"], "verified")
    assert [(priced[p]["band"], priced[p]["tier"], priced[p]["payable"]) for p in (high, part, full)] == [
        ("full_time", 0, "26000.00"),
        ("part_time", None, "8000.00"),
        ("full_time", 0, "20000.00"),
    ]
    assert _split(priced[high], fund, cast) == {"fund": "7800.00", "Herning": "18200.00"}
    assert _split(priced[part], fund, cast) == {"fund": "2400.00", "Herning": "5600.00"}

    short = await claim(
        outcomes, cast.provider, full, "employed_26w", SUSTAINED, status=422, facts={"weeks_in_work": 25}
    )
    assert short["invalid_params"][0]["name"] == "body.facts.weeks_in_work"
    made = await claim(outcomes, cast.provider, full, "employed_26w", SUSTAINED, facts={"weeks_in_work": 26})
    sustained = await decide(outcomes, cast.payer_a, made["id"], "verified")
    assert (sustained["tier"], sustained["tariff"], sustained["payable"]) == (0, "35000.00", "35000.00")
    assert _split(sustained, fund, cast) == {"fund": "14000.00", "Herning": "21000.00"}

    level_1 = await claim(
        outcomes,
        cast.provider,
        part,
        "qualification",
        SUSTAINED,
        status=422,
        facts={"qualification_level": "1"},
    )
    assert level_1["code"] == "criteria-not-met"
    assert level_1["invalid_params"][0]["name"] == "body.facts.qualification_level"
    assert "qualification_level" in level_1["invalid_params"][0]["reason"]
    made = await claim(
        outcomes, cast.provider, part, "qualification", SUSTAINED, facts={"qualification_level": "2"}
    )
    qualified = await decide(outcomes, cast.payer_a, made["id"], "verified")
    assert _split(qualified, fund, cast) == {"fund": "3600.00", "Herning": "8400.00"}

    # On the card's achievement basis the starts and the later outcomes fall in their own quarters:
    # starts 26 000 + 8 000 + 20 000 (fund 7 800 + 2 400 + 6 000); then 35 000 + 12 000 (fund 14 000 + 3 600).
    home, paying_fund = cast.payer_a.organisation_id, fund.organisation_id
    assert await _statement_total(outcomes, cast, contract_id, paying_fund, STARTED) == ("16200.00", 3)
    assert await _statement_total(outcomes, cast, contract_id, home, STARTED) == ("37800.00", 3)
    assert await _statement_total(outcomes, cast, contract_id, paying_fund, SUSTAINED) == ("17600.00", 2)
    assert await _statement_total(outcomes, cast, contract_id, home, SUSTAINED) == ("29400.00", 2)


async def test_the_guides_volume_tier_120_standard_starts_cost_2_300_000_in_any_order(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    """The guide's tier example: 120 full-time starts, all `standard`, cost 100 x 20 000 + 20 x 15 000 =
    DKK 2 300 000, verified (by a bulk file) in a shuffled order; the next start, a `high` participant's,
    is the 121st and costs 15 000 (that tier has one price)."""
    contract_id, fund = await _documented_contract(platform, contracts, cast)
    count = 121
    claim_ids = await claimed_by_bulk(
        outcomes,
        cast,
        [
            {
                "external_reference": f"p-{n}",
                "contract_id": str(contract_id),
                "cpr": synthetic_cpr(1000 + n),
                "municipality_code": HERNING,
                "enrolment_date": (TODAY - timedelta(days=380)).isoformat(),
                "segment": "high" if n == count - 1 else "standard",
            }
            for n in range(count)
        ],
        achieved=STARTED,
        facts={"hours_per_week": "37", "off_benefit": True},
    )
    standard, last = claim_ids[:-1], claim_ids[-1]
    shuffled = standard[:]
    random.Random(14).shuffle(shuffled)
    verified = await post_bulk(
        outcomes,
        cast,
        ndjson(
            [
                {
                    "kind": "verification",
                    "external_reference": f"v-{n}",
                    "claim_id": c,
                    "decision": "verified",
                }
                for n, c in enumerate(shuffled)
            ]
        ),
        actor=cast.payer_a,
    )
    assert {r["result"] for r in verified} == {"accepted"}, verified[:3]

    tiers: defaultdict[int, list[Decimal]] = defaultdict(list)
    for start in range(0, len(standard), 100):
        page = check(
            await outcomes.get(
                "/v1/outcome-claims",
                params={"ids": ",".join(standard[start : start + 100]), "limit": 100},
                headers=cast.payer_a.headers,
            ),
            200,
        )
        for read in page["items"]:
            assert read["band"] == "full_time"
            tiers[read["tier"]].append(D(read["payable"]))
    assert {tier: (len(paid), sum(paid)) for tier, paid in tiers.items()} == {
        0: (100, D("2000000.00")),
        1: (20, D("300000.00")),
    }

    the_121st = await decide(outcomes, cast.payer_a, last, "verified")
    assert (the_121st["tier"], the_121st["payable"]) == (1, "15000.00")
    # Herning pays 70 % of the 2 315 000 and the fund 30 %, on the quarter of the starts.
    home, paying_fund = cast.payer_a.organisation_id, fund.organisation_id
    assert await _statement_total(outcomes, cast, contract_id, home, STARTED) == ("1620500.00", 121)
    assert await _statement_total(outcomes, cast, contract_id, paying_fund, STARTED) == ("694500.00", 121)
