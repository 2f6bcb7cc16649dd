"""Per-request DataLoaders: every nested field reads through one of these, so a query makes one batched
service call per kind of thing and level, not one per row.

Loaders live in the request's context (never per process: they cache with the caller's permissions).
Batch reads use the services' `GET …?ids=` endpoints, chunked to each service's batch limit; lists that
hang off a partnership or contract are read whole, page by page, and shared by every field that needs
them (e.g. each participant's claims come from one read of the partnership's claims).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from strawberry.dataloader import DataLoader

from gateway.clients import ServiceClient, Services

Row = dict[str, Any]

# Batch sizes the services accept for `ids=` (contracts: 100; identity and outcomes: 500).
BATCH = {"identity": 500, "contracts": 100, "outcomes": 500}


def _by_ids(client: ServiceClient, path: str) -> Callable[[list[UUID]], Awaitable[list[Row | None]]]:
    """A batch function: rows for ids, None where the caller may not see one (or it does not exist)."""

    async def load(keys: list[UUID]) -> list[Row | None]:
        size = BATCH[client.name]
        found: dict[str, Row] = {}
        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            page = await client.get(path, {"ids": ",".join(str(k) for k in chunk), "limit": str(len(chunk))})
            found.update({str(row["id"]): row for row in page.get("items") or ()})
        return [found.get(str(key)) for key in keys]

    return load


def _grouped(
    client: ServiceClient, path: str, param: str, extra: Mapping[str, str] | None = None
) -> Callable[[list[UUID]], Awaitable[list[list[Row]]]]:
    """A batch function: for each key, every row listed under `param=key` (all pages)."""

    async def load(keys: list[UUID]) -> list[list[Row]]:
        out: list[list[Row]] = []
        for key in keys:
            out.append([row async for row in client.pages(path, {**(extra or {}), param: str(key)})])
        return out

    return load


class Loaders:
    """The request's loaders; create one per request."""

    def __init__(self, services: Services) -> None:
        identity, contracts, outcomes = services.identity, services.contracts, services.outcomes
        self._claims_by_participant: dict[UUID, dict[str, list[Row]]] = {}
        self.organisation = DataLoader[UUID, Row | None](_by_ids(identity, "/v1/organisations"))
        self.partnership = DataLoader[UUID, Row | None](_by_ids(identity, "/v1/partnerships"))
        self.contract_version = DataLoader[UUID, Row | None](_by_ids(contracts, "/v1/contract-versions"))
        self.participant = DataLoader[UUID, Row | None](_by_ids(outcomes, "/v1/participants"))
        self.claim = DataLoader[UUID, Row | None](_by_ids(outcomes, "/v1/outcome-claims"))
        self.statement = DataLoader[UUID, Row | None](_by_ids(outcomes, "/v1/payment-statements"))
        self.members_of = DataLoader[UUID, list[Row]](_grouped(identity, "/v1/memberships", "partnership_id"))
        self.contracts_of = DataLoader[UUID, list[Row]](
            _grouped(contracts, "/v1/contracts", "partnership_id")
        )
        self.claims_of = DataLoader[UUID, list[Row]](
            _grouped(outcomes, "/v1/outcome-claims", "partnership_id")
        )
        # Totals only: a statement's lines (hundreds per period) come from `statement` when asked for.
        self.statements_of_contract = DataLoader[UUID, list[Row]](
            _grouped(outcomes, "/v1/payment-statements", "contract_id", {"lines": "false"})
        )
        self.aggregates = DataLoader[UUID, Row](
            _each(lambda pid: outcomes.get(f"/v1/partnerships/{pid}/outcome-aggregates"))
        )
        self.chain = DataLoader[UUID, Row](
            _each(lambda pid: outcomes.get(f"/v1/partnerships/{pid}/ledger/verification"))
        )
        self.versions_of = DataLoader[UUID, list[Row]](
            _each(lambda cid: _items(contracts.get(f"/v1/contracts/{cid}/versions")))
        )

    async def claims_of_participant(self, partnership_id: UUID, participant_id: UUID) -> list[Row]:
        """A participant's claims, cut from one read of its partnership's claims."""
        claims = await self.claims_of.load(partnership_id)
        if partnership_id not in self._claims_by_participant:
            grouped: dict[str, list[Row]] = defaultdict(list)
            for claim in claims:
                grouped[str(claim["participant_id"])].append(claim)
            self._claims_by_participant[partnership_id] = grouped
        return self._claims_by_participant[partnership_id].get(str(participant_id), [])


async def _items(page: Awaitable[Any]) -> list[Row]:
    return list((await page).get("items") or ())


def _each(fetch: Callable[[UUID], Awaitable[Any]]) -> Callable[[list[UUID]], Awaitable[Sequence[Any]]]:
    """A batch function for reads that have no batch endpoint: one call per distinct key, concurrently
    (the loader has already removed duplicates). Errors are per key, so one failure spares the rest."""

    async def load(keys: list[UUID]) -> Sequence[Any]:
        results = await asyncio.gather(*(fetch(k) for k in keys), return_exceptions=True)
        return list(results)

    return load
