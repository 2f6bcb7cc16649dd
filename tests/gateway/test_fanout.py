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
from tests.gateway.support import World, _bounded, build_world, gid, gql
from tests.outcomes.support import TODAY, claim, confirm

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
    cast = await make_cast(platform)
    async with (
        new_client(base_url=platform.url("contracts"), timeout=60) as contracts,
        new_client(base_url=platform.url("outcomes"), timeout=60) as outcomes,
    ):
        world = await build_world(contracts, outcomes, cast, per_municipality=100)
        # Claims for a quarter of the participants, so the nested per-participant claims have rows.
        day = TODAY - timedelta(days=20)
        ids = world.participants["657"][1:26] + world.participants["791"][1:26]
        payers = {"657": cast.payer_a, "791": cast.payer_b}
        # build_world confirmed the first two in each municipality; the payers confirm the rest first.
        await _bounded(
            [
                confirm(outcomes, payers[code], pid)
                for code in payers
                for pid in world.participants[code][2:26]
            ]
        )
        await _bounded([claim(outcomes, cast.provider, pid, "job_start", day) for pid in ids])
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
