"""A nested dashboard over a partnership with 200 participants makes a bounded number of service calls:
the loaders batch by id and read partnership-wide lists once, whatever the number of rows."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import make_cast
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from tests.gateway.support import World, build_world, gid, gql
from tests.outcomes.integrations.support import ndjson, post_bulk
from tests.outcomes.support import TODAY

DASHBOARD = """
query Dashboard($id: ID!) {
  partnership(id: $id) {
    name
    members { role organisation { name partnerType } }
    contract {
      title
      activeVersion { number status signatures { valid organisation { name } } }
      statements { status total }
    }
    outcomeSummary { enrolled verifiedOutcomes { outcomeCode month verified value } }
    participants(first: 200) {
      totalCount
      edges { node { id pseudonym municipalityCode claims { id status outcomeCode } } }
      pageInfo { hasNextPage }
    }
    claims(first: 100) { nodes { id status participant { pseudonym enrolmentDate } } }
    statements { status total }
    ledger(first: 100) { nodes { sequence type } pageInfo { hasNextPage } }
    ledgerStatus { valid checked }
  }
}
"""
# One call per kind of thing and level, whatever the number of rows:
# identity: the partnership, its memberships, and organisations in at most two batches: members' and
# signatories' organisations are asked for once the memberships and the versions have come back, and
# those come from two services, in the same event-loop turn or not (on a loaded machine, often not);
# contracts: the partnership's contracts, the contract's versions;
# outcomes: the participants page, the partnership's claims (for each participant's claims), the claims
# page, at most one batch of the claims' participants (none when the participants page primed them
# first), the summary, the statements, the ledger page and the chain check.
BOUND = {"identity": 4, "contracts": 2, "outcomes": 8}


@pytest.fixture(scope="module")
async def big_world(platform: Platform) -> World:
    """The gateway tests' world (two participants per municipality, their claims, a statement) grown to 100
    participants per municipality, a quarter of them confirmed and claimed for. The growth goes in bulk
    (three requests, the same rules per line as one request each): the dashboard reads rows, and how they
    were written is not under test here."""
    cast = await make_cast(platform)
    async with (
        new_client(base_url=platform.url("contracts"), timeout=60) as contracts,
        new_client(base_url=platform.url("outcomes"), timeout=60) as outcomes,
    ):
        world = await build_world(contracts, outcomes, cast, per_municipality=2)
        enrolled = (TODAY - timedelta(days=30)).isoformat()
        # build_world enrolled synthetic people 1-4; these are 5-102 (Herning) and 103-200 (Viborg).
        more = [(code, 4 + 98 * m + n) for m, code in enumerate(("657", "791")) for n in range(1, 99)]
        enrolments = await post_bulk(
            outcomes,
            cast,
            ndjson(
                [
                    {
                        "kind": "enrolment",
                        "external_reference": f"SAG-{code}-{index}",
                        "contract_id": str(world.contract_id),
                        "cpr": synthetic_cpr(index),
                        "municipality_code": code,
                        "enrolment_date": enrolled,
                    }
                    for code, index in more
                ]
            ),
        )
        assert [r["result"] for r in enrolments] == ["accepted"] * len(more), enrolments
        for (code, _), result in zip(more, enrolments, strict=True):
            world.participants[code].append(result["id"])
        # build_world confirmed the first two in each municipality; the payers confirm the next 24.
        payers = {"657": cast.payer_a, "791": cast.payer_b}
        for code, payer in payers.items():
            confirmed = await post_bulk(
                outcomes,
                cast,
                ndjson(
                    [
                        {"kind": "eligibility", "external_reference": f"e-{pid}", "participant_id": pid}
                        for pid in world.participants[code][2:26]
                    ]
                ),
                actor=payer,
            )
            assert [r["result"] for r in confirmed] == ["accepted"] * 24, confirmed
        # Claims for a quarter of the participants, so the nested per-participant claims have rows.
        day = (TODAY - timedelta(days=20)).isoformat()
        ids = world.participants["657"][1:26] + world.participants["791"][1:26]
        claimed = await post_bulk(
            outcomes,
            cast,
            ndjson(
                [
                    {
                        "kind": "claim",
                        "external_reference": f"c-{pid}",
                        "participant_id": pid,
                        "outcome_code": "job_start",
                        "achievement_date": day,
                        "evidence_reference": "eIndkomst extract 2026-11",
                    }
                    for pid in ids
                ]
            ),
        )
        assert [r["result"] for r in claimed] == ["accepted"] * len(ids), claimed
    assert {code: len(pids) for code, pids in world.participants.items()} == {"657": 100, "791": 100}
    return world


async def test_a_dashboard_over_200_participants_makes_a_bounded_number_of_service_calls(
    gateway: httpx.AsyncClient, big_world: World
) -> None:
    started = time.perf_counter()
    body = await gql(
        gateway, big_world.cast.provider, DASHBOARD, {"id": gid("Partnership", big_world.cast.partnership_id)}
    )
    elapsed = time.perf_counter() - started
    assert "errors" not in body, body["errors"]
    partnership = body["data"]["partnership"]
    participants = partnership["participants"]["edges"]
    assert len(participants) == 200
    with_claims = [p for p in participants if p["node"]["claims"]]
    assert len(with_claims) == 52  # the first in each municipality (the world's), and fifty more
    assert all(c["participant"]["pseudonym"] for c in partnership["claims"]["nodes"])
    calls = body["extensions"]["serviceCalls"]
    message = f"service calls {calls} for 200 participants in {elapsed:.2f}s"
    assert all(calls.get(name, 0) <= bound for name, bound in BOUND.items()), message
    assert sum(calls.values()) <= sum(BOUND.values()), message


async def test_the_same_dashboard_costs_the_same_calls_for_a_payer_seeing_half(
    gateway: httpx.AsyncClient, big_world: World
) -> None:
    body = await gql(
        gateway, big_world.cast.payer_a, DASHBOARD, {"id": gid("Partnership", big_world.cast.partnership_id)}
    )
    assert "errors" not in body, body["errors"]
    nodes = [e["node"] for e in body["data"]["partnership"]["participants"]["edges"]]
    assert len(nodes) == 100
    assert {n["municipalityCode"] for n in nodes} == {"657"}
    calls = body["extensions"]["serviceCalls"]
    assert all(calls.get(name, 0) <= bound for name, bound in BOUND.items()), calls
