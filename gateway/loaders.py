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
from typing import TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from gateway.clients import Services
from gateway.clients.contracts import ContractRow, ContractVersionRow
from gateway.clients.identity import MembershipRow, OrganisationRow, PartnershipRow
from gateway.clients.outcomes import AggregatesRow, ChainStatusRow, ClaimRow, ParticipantRow, StatementRow

V = TypeVar("V")


def _by_ids(
    fetch: Callable[[list[UUID]], Awaitable[Mapping[UUID, V]]],
) -> Callable[[list[UUID]], Awaitable[list[V | None]]]:
    """A batch function: rows for ids, None where the caller may not see one (or it does not exist)."""

    async def load(keys: list[UUID]) -> list[V | None]:
        found = await fetch(keys)
        return [found.get(key) for key in keys]

    return load


def _each(
    fetch: Callable[[UUID], Awaitable[V]],
) -> Callable[[list[UUID]], Awaitable[Sequence[V | BaseException]]]:
    """A batch function for reads that have no batch endpoint: one call per distinct key, concurrently
    (the loader has already removed duplicates). Errors are per key, so one failure spares the rest."""

    async def load(keys: list[UUID]) -> Sequence[V | BaseException]:
        return await asyncio.gather(*(fetch(k) for k in keys), return_exceptions=True)

    return load


def _one_by_one(fetch: Callable[[UUID], Awaitable[V]]) -> Callable[[list[UUID]], Awaitable[list[V]]]:
    """A batch function for lists read whole per key (all pages), one key after another."""

    async def load(keys: list[UUID]) -> list[V]:
        return [await fetch(key) for key in keys]

    return load


class Loaders:
    """The request's loaders; create one per request."""

    def __init__(self, services: Services) -> None:
        identity, contracts, outcomes = services.identity, services.contracts, services.outcomes
        self._claims_by_participant: dict[UUID, dict[UUID, list[ClaimRow]]] = {}
        self.organisation = DataLoader[UUID, OrganisationRow | None](_by_ids(identity.organisations))
        self.partnership = DataLoader[UUID, PartnershipRow | None](_by_ids(identity.partnerships))
        self.participant = DataLoader[UUID, ParticipantRow | None](_by_ids(outcomes.participants))
        self.contract = DataLoader[UUID, ContractRow | None](_by_ids(contracts.contracts))
        self.version = DataLoader[UUID, ContractVersionRow | None](_by_ids(contracts.versions))
        self.claim = DataLoader[UUID, ClaimRow | None](_by_ids(outcomes.claims))
        self.statement = DataLoader[UUID, StatementRow | None](_by_ids(outcomes.statements))
        self.members_of = DataLoader[UUID, list[MembershipRow]](_one_by_one(identity.memberships_of))
        self.contracts_of = DataLoader[UUID, list[ContractRow]](_one_by_one(contracts.contracts_of))
        self.claims_of = DataLoader[UUID, list[ClaimRow]](_one_by_one(outcomes.claims_of))
        # Totals only: a statement's lines (hundreds per period) come from `statement` when asked for.
        self.statements_of_contract = DataLoader[UUID, list[StatementRow]](
            _one_by_one(outcomes.statements_of_contract)
        )
        self.aggregates = DataLoader[UUID, AggregatesRow](_each(outcomes.aggregates))
        self.chain = DataLoader[UUID, ChainStatusRow](_each(outcomes.chain_status))
        self.versions_of = DataLoader[UUID, list[ContractVersionRow]](_each(contracts.versions_of))

    async def claims_of_participant(self, partnership_id: UUID, participant_id: UUID) -> list[ClaimRow]:
        """A participant's claims, cut from one read of its partnership's claims."""
        claims = await self.claims_of.load(partnership_id)
        if partnership_id not in self._claims_by_participant:
            grouped: dict[UUID, list[ClaimRow]] = defaultdict(list)
            for claim in claims:
                grouped[claim.participant_id].append(claim)
            self._claims_by_participant[partnership_id] = grouped
        return self._claims_by_participant[partnership_id].get(participant_id, [])
