"""The demo seed `effekt up` runs: over HTTP only, idempotent across restarts, and its tokens show each
partner type its own view of the demo partnership."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor
from effekt.seed import describe, seed
from tests.gateway.support import gid, gql

QUERY = """
query($id: ID!) {
  partnership(id: $id) {
    name
    contract { activeVersion { status } }
    outcomeSummary { enrolled verifiedOutcomes { outcomeCode verified } }
    statements { status }
    participants(first: 50) { edges { node { segment } } }
    claims(first: 50, status: VERIFIED) { edges { node { band payable split { payerOrganisationId } } } }
  }
}
"""


async def _seed(platform: Platform, data_dir: Path) -> dict[str, dict[str, str]]:
    return await asyncio.to_thread(seed, platform, data_dir)


@pytest.fixture(scope="module")
async def seeded(
    platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("effekt-data")
    return data_dir, await _seed(platform, data_dir)


async def test_the_seed_signs_a_contract_and_records_outcomes_and_a_statement(
    gateway: httpx.AsyncClient, seeded: tuple[Path, dict[str, dict[str, str]]]
) -> None:
    data_dir, tokens = seeded
    partnership_id = json.loads((data_dir / "demo.json").read_text())["partnership_id"]
    provider = _actor(tokens["provider"])
    body = await gql(gateway, provider, QUERY, {"id": gid("Partnership", partnership_id)})
    assert "errors" not in body, body
    partnership = body["data"]["partnership"]
    assert partnership["contract"]["activeVersion"]["status"] == "ACTIVE"
    assert partnership["outcomeSummary"]["enrolled"] == 12
    verified = sum(m["verified"] for m in partnership["outcomeSummary"]["verifiedOutcomes"])
    assert verified == 6
    assert [s["status"] for s in partnership["statements"]] == ["ISSUED"]
    # The demo's terms use segments, bands and two payers, so a new user meets them.
    segments = [e["node"]["segment"] for e in partnership["participants"]["edges"]]
    assert sorted(set(segments)) == ["high", "standard"]
    bands = {e["node"]["band"] for e in partnership["claims"]["edges"]}
    assert bands == {"part_time", "full_time"}
    payers = {x["payerOrganisationId"] for e in partnership["claims"]["edges"] for x in e["node"]["split"]}
    assert len(payers) == 2  # Herning and Viborg share every claim


async def test_each_partner_type_gets_a_working_token_and_its_own_schema(
    gateway: httpx.AsyncClient, seeded: tuple[Path, dict[str, dict[str, str]]]
) -> None:
    _, tokens = seeded
    assert {t["partner_type"] for t in tokens.values()} == {
        "municipality",
        "provider",
        "investor",
        "evaluator",
        "legal_adviser",
        "operator",
    }
    for user in tokens.values():
        body = await gql(gateway, _actor(user), "{ me { partnerType } }")
        assert body["data"]["me"]["partnerType"] == user["partner_type"].upper()


async def test_seeding_again_reuses_the_demo_and_only_refreshes_tokens(
    platform: Platform, seeded: tuple[Path, dict[str, dict[str, str]]]
) -> None:
    data_dir, first = seeded
    state = (data_dir / "demo.json").read_text()
    again = await _seed(platform, data_dir)
    assert (data_dir / "demo.json").read_text() == state
    assert {k: v["email"] for k, v in again.items()} == {k: v["email"] for k, v in first.items()}
    assert again["provider"]["token"] != first["provider"]["token"]
    text = describe(again, platform.url("gateway"), data_dir / "demo-tokens.json")
    assert all(user["email"] in text for user in again.values())


def _actor(user: dict[str, str]) -> Actor:
    from uuid import UUID

    return Actor(organisation_id=UUID(int=0), partner_type=user["partner_type"], token=user["token"])
