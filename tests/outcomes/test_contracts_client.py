"""The registry client's in-force cache: per token, contract and date; bounded in age; misses share a call.
A group's claims ask for their versions together, at most four registry calls at a time."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.outcomes.claims.service import REGISTRY_CALLS_AT_ONCE, versions_in_force
from services.outcomes.clients.contracts import ContractsClient
from services.outcomes.collaborators import Deps
from services.outcomes.errors import NoVersionInForce
from services.outcomes.pseudonyms import PartnershipKeys

ON = date(2027, 3, 1)


def _version(contract_id: UUID) -> dict[str, Any]:
    return {
        "id": str(uuid4()),
        "contract_id": str(contract_id),
        "partnership_id": str(uuid4()),
        "number": 1,
        "status": "active",
        "terms": {
            "start_date": "2027-01-01",
            "end_date": "2029-12-31",
            "outcomes": [{"code": "job_start", "tariff": "10000.00"}],
            "payer_split": {"method": "fixed"},
        },
    }


class Registry:
    """Counts in-force requests; answers 404 for contracts it was told have none."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.missing: set[str] = set()
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        contract_id = request.url.path.split("/")[3]
        self.asked.append((contract_id, request.headers["authorization"]))
        if self.gate is not None:
            await self.gate.wait()
        if contract_id in self.missing:
            return httpx.Response(404, json={"code": "no-version-in-force"})
        return httpx.Response(200, json=_version(UUID(contract_id)))


def client(registry: Registry, ttl: float = 5.0) -> ContractsClient:
    contracts = ContractsClient("http://registry", in_force_ttl=ttl)
    contracts._http = httpx.AsyncClient(base_url="http://registry", transport=httpx.MockTransport(registry))
    return contracts


async def test_an_in_force_answer_is_reused_for_the_same_token_contract_and_date() -> None:
    registry, contract_id = Registry(), uuid4()
    contracts = client(registry)
    first = await contracts.version_in_force(contract_id, ON, token="a")
    assert await contracts.version_in_force(contract_id, ON, token="a") == first
    assert len(registry.asked) == 1
    await contracts.version_in_force(contract_id, ON, token="b")  # another caller: the registry decides
    await contracts.version_in_force(contract_id, date(2027, 3, 2), token="a")
    assert len(registry.asked) == 3


async def test_an_in_force_answer_older_than_the_ttl_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    registry, contract_id = Registry(), uuid4()
    contracts = client(registry, ttl=5.0)
    now = [1000.0]
    monkeypatch.setattr("services.outcomes.clients.contracts.time.monotonic", lambda: now[0])
    await contracts.version_in_force(contract_id, ON, token="a")
    now[0] += 4.9
    await contracts.version_in_force(contract_id, ON, token="a")
    assert len(registry.asked) == 1
    now[0] += 0.2
    await contracts.version_in_force(contract_id, ON, token="a")
    assert len(registry.asked) == 2


async def test_none_in_force_is_never_cached() -> None:
    registry, contract_id = Registry(), uuid4()
    registry.missing.add(str(contract_id))
    contracts = client(registry)
    for _ in range(2):
        with pytest.raises(NoVersionInForce):
            await contracts.version_in_force(contract_id, ON, token="a")
    assert len(registry.asked) == 2
    registry.missing.clear()  # activated meanwhile: seen at once
    await contracts.version_in_force(contract_id, ON, token="a")
    assert len(registry.asked) == 3


async def test_concurrent_misses_share_one_registry_call_and_its_failure() -> None:
    registry, contract_id = Registry(), uuid4()
    registry.gate = asyncio.Event()
    contracts = client(registry)
    waiting = [
        asyncio.ensure_future(contracts.version_in_force(contract_id, ON, token="a")) for _ in range(5)
    ]
    await asyncio.sleep(0.01)
    registry.gate.set()
    answers = await asyncio.gather(*waiting)
    assert len(registry.asked) == 1
    assert len({a.id for a in answers}) == 1

    other = uuid4()
    registry.missing.add(str(other))
    registry.gate = asyncio.Event()
    failing = [asyncio.ensure_future(contracts.version_in_force(other, ON, token="a")) for _ in range(3)]
    await asyncio.sleep(0.01)
    failing[0].cancel()  # one caller leaving does not cancel the others' answer
    registry.gate.set()
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, NoVersionInForce) for r in results[1:])
    assert len(registry.asked) == 2


async def test_a_groups_versions_are_asked_together_at_most_four_at_a_time() -> None:
    registry = Registry()
    asking = most = 0

    async def counted(request: httpx.Request) -> httpx.Response:
        nonlocal asking, most
        asking += 1
        most = max(most, asking)
        await asyncio.sleep(0.01)
        asking -= 1
        return await registry(request)

    contracts = client(registry)
    contracts._http = httpx.AsyncClient(base_url="http://registry", transport=httpx.MockTransport(counted))
    callers = [Deps(contracts, f"token-{n}", PartnershipKeys({1: b"secret"})) for n in range(6)]
    contract_ids = [uuid4() for _ in range(3)]
    registry.missing.add(str(contract_ids[2]))
    asks = [(deps, contract_id, ON) for deps in callers for contract_id in contract_ids] * 2
    found = await versions_in_force(asks)
    assert len(found) == len(registry.asked) == 18  # each token, contract and date once
    assert most == REGISTRY_CALLS_AT_ONCE == 4
    for (_, contract_id, _), answer in found.items():
        if contract_id == contract_ids[2]:
            assert isinstance(answer, NoVersionInForce)  # one claim's refusal, not the group's failure
        else:
            assert not isinstance(answer, Exception)
            assert answer.contract_id == contract_id
