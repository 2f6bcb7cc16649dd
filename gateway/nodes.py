"""Relay's `node(id:)` and `nodes(ids:)`: any object read again by its global id, as client libraries
(Relay, Apollo's and urql's normalised caches) expect.

A global id is read only as the type it names, through the same loader and the same policy check as the
typed field that returns that type (`partnership(id:)`, `participant(id:)`, `Partnership.claims`, …), so
a node is null exactly where the typed field would give null or leave the row out: a type the caller's
partner type may not see (policy.py), a row the service does not give it, an id of no type we know, or a
type name that does not match its UUID (a `Claim`'s UUID dressed as a `Contract`'s id is looked up among
contracts, and is not there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway import policy
from gateway.claims import Claim
from gateway.context import Context
from gateway.contracts import Contract, ContractVersion
from gateway.hardening import DomainError
from gateway.participants import Participant
from gateway.partners import Organisation, Partnership
from gateway.relay import GlobalNode
from gateway.statements import Statement
from gateway.webhooks import WebhookSubscription

MAX_NODES = 100

Read = Callable[[Info[Context, None], UUID], Awaitable[GlobalNode | None]]


async def _organisation(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    row = await info.context.loaders.organisation.load(key)
    return Organisation.from_row(row) if row else None


async def _partnership(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    row = await info.context.loaders.partnership.load(key)
    return Partnership.from_row(row) if row else None


async def _contract(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    row = await info.context.loaders.contract.load(key)
    return Contract.from_row(row) if row else None


async def _version(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    row = await info.context.loaders.version.load(key)
    return ContractVersion.from_row(row) if row else None


async def _participant(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    # As `Query.participant` and `Partnership.participants`: the membership role must list such rows.
    row = await info.context.loaders.participant.load(key)
    if row is None or not policy.rows_visible(info.context.roles_in(row.partnership_id), "Participant"):
        return None
    return Participant.from_row(row)


async def _claim(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    # As `Partnership.claims` (claims.py): the membership role must list such rows.
    row = await info.context.loaders.claim.load(key)
    if row is None or not policy.rows_visible(info.context.roles_in(row.partnership_id), "Claim"):
        return None
    return Claim.from_row(row)


async def _statement(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    row = await info.context.loaders.statement.load(key)
    return Statement.from_row(row) if row else None


async def _subscription(info: Info[Context, None], key: UUID) -> GlobalNode | None:
    # As `Me.webhookSubscriptions`: the organisation's own subscriptions (the service needs the scope).
    if "webhooks:manage" not in info.context.principal.scopes:
        return None
    rows = await info.context.services.outcomes.webhook_subscriptions()
    return next((WebhookSubscription.from_row(r) for r in rows if r.id == key), None)


# Every Node type, by its GraphQL name, and the read that `node(id:)` uses for it.
READS: dict[str, Read] = {
    "Organisation": _organisation,
    "Partnership": _partnership,
    "Contract": _contract,
    "ContractVersion": _version,
    "Participant": _participant,
    "Claim": _claim,
    "Statement": _statement,
    "WebhookSubscription": _subscription,
}


async def read_node(info: Info[Context, None], global_id: relay.GlobalID) -> GlobalNode | None:
    read = READS.get(global_id.type_name)
    if read is None or not policy.type_visible(info.context.principal.partner_type, global_id.type_name):
        return None
    try:
        key = UUID(global_id.node_id)
    except ValueError:
        return None
    return await read(info, key)


NodeIds = Annotated[
    list[relay.GlobalID],
    strawberry.argument(description=f"At most {MAX_NODES} global ids."),
]


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object you may see, by its global `id`; null where its typed field would give "
        "null (not yours to see, or no such object)."
    )
    async def node(self, info: Info[Context, None], id: relay.GlobalID) -> relay.Node | None:
        return await read_node(info, id)

    @strawberry.field(description="`node` for many ids at once, in their order; null for each one not found.")
    async def nodes(self, info: Info[Context, None], ids: NodeIds) -> list[relay.Node | None]:
        if len(ids) > MAX_NODES:
            raise DomainError(f"at most {MAX_NODES} ids", code="too-many-ids")
        # Concurrently, so the loaders batch the ids of one type into one service call.
        return list(await asyncio.gather(*(read_node(info, global_id) for global_id in ids)))
