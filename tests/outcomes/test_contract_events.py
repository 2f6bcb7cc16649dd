"""Every partner learns from the feed when a contract is activated or terminated (issue 13): the outcome
service reads the registry's change log with its own platform client and records each change in the
partnership's ledger exactly once, naming no person."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, make_cast
from effekt.sandbox.http import new_client
from tests.contracts.support import activate, key
from tests.outcomes.integrations.support import read_feed_page
from tests.outcomes.support import whole_ledger
from tests.platform import running_platform

TYPES = ("dk.effekt.contract.activated", "dk.effekt.contract.terminated")
# The shared test platform leaves the recorder off (its tests count ledger events exactly): one of its own.
RECORDING = {"OUTCOMES_CONTRACT_EVENTS": "true", "OUTCOMES_CONTRACT_EVENTS_POLL_INTERVAL": "0.5"}


@pytest.fixture(scope="module")
def recording_platform(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(
        pg_server_url, tmp_path_factory.mktemp("contract-events"), extra_env=RECORDING
    ) as platform:
        yield platform


@pytest.fixture
async def clients(recording_platform: Platform) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        new_client(base_url=recording_platform.url("contracts"), timeout=30) as contracts,
        new_client(base_url=recording_platform.url("outcomes"), timeout=30) as outcomes,
    ):
        yield contracts, outcomes


async def _contract_events(outcomes: httpx.AsyncClient, actor: Actor, cast: Cast) -> list[dict[str, Any]]:
    items, _ = await read_feed_page(
        outcomes, actor, None, partnership=str(cast.partnership_id), type=list(TYPES), limit=1000
    )
    return items


async def test_activation_and_termination_reach_every_partner_through_the_feed_once(
    recording_platform: Platform, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    contracts, outcomes = clients
    cast = await make_cast(recording_platform)
    active = await activate(contracts, cast)
    ended = await contracts.post(
        f"/v1/contract-versions/{active['id']}/termination",
        json={"effective_on": "2028-07-01", "reason": "Programme ends"},
        headers=cast.provider.headers | key(),
    )
    assert ended.status_code == 200, ended.text
    for actor in (cast.payer_a, cast.payer_b, cast.investor):
        ended = await contracts.post(
            f"/v1/contract-versions/{active['id']}/termination",
            json={"effective_on": "2028-07-01", "reason": "Programme ends"},
            headers=actor.headers | key(),
        )
        assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "terminated"

    deadline = asyncio.get_running_loop().time() + 30  # the recorder polls every 0.5 s here
    while len(await _contract_events(outcomes, cast.provider, cast)) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the changes did not reach the feed in time"
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # further rounds round of the recorder appends nothing more
    seen = []
    for actor in (cast.provider, cast.investor):
        items = await _contract_events(outcomes, actor, cast)
        assert [i["type"] for i in items] == list(TYPES), items
        seen.append(items)
        activated, terminated = items
        assert activated["subject"] == terminated["subject"] == f"contract-versions/{active['id']}"
        assert activated["data"]["contract_id"] == active["contract_id"]
        assert activated["data"]["version_id"] == active["id"]
        assert activated["data"]["start_date"] == active["terms"]["start_date"]
        assert terminated["data"]["terminated_on"] == "2028-07-01"
        assert terminated["data"]["by"] == "agreement"
        # No person and no free text: the acting users and the reason stay in the registry.
        body = json.dumps(items)
        assert "Programme ends" not in body
        for someone in (cast.provider, cast.payer_a, cast.payer_b, cast.investor):
            assert str(someone.user_id) not in body
        assert all("pseudonym" not in i for i in items)
        assert activated["data"]["actor"]["kind"] == "client"
    # Every audience receives the same hashed event.
    assert [i["ledgerhash"] for i in seen[0]] == [i["ledgerhash"] for i in seen[1]]

    ledger = await whole_ledger(outcomes, cast.investor, cast.partnership_id)
    recorded = [e["event"]["type"] for e in ledger if e["event"]["type"] in TYPES]
    assert recorded == list(TYPES)
    verification = await outcomes.get(
        f"/v1/partnerships/{cast.partnership_id}/ledger/verification", headers=cast.investor.headers
    )
    assert verification.status_code == 200, verification.text
    assert verification.json()["valid"] is True
