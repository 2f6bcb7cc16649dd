"""Helpers for the gateway's HTTP tests: a GraphQL call, a partnership with a signed contract, enrolled
participants, claims and a statement built through the services' own APIs, and the policy-driven query
tree the permission tests send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
from strawberry.relay import GlobalID

from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.identifiers import synthetic_cpr
from gateway import policy
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    key,
    quarter,
)


def gid(type_name: str, value: object) -> str:
    """The gateway's global id of a `type_name` whose UUID is `value` (base64 of `Type:uuid`, Relay's)."""
    return str(GlobalID(type_name, str(value)))


async def gql(
    gateway: httpx.AsyncClient,
    actor: Actor | None,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> dict[str, Any]:
    headers = {"Accept": "application/graphql-response+json"}
    if actor is not None:
        headers.update(actor.headers)
    response = await gateway.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class World:
    """A partnership in motion: an active contract, participants in both paying municipalities, claims
    (one verified), and a draft statement for Herning."""

    cast: Cast
    contract_id: UUID
    version_id: UUID
    participants: dict[str, list[str]] = field(default_factory=dict)  # municipality code -> ids
    claims: list[str] = field(default_factory=list)
    claim_owner: dict[str, str] = field(default_factory=dict)  # claim id -> participant id
    references: dict[str, str] = field(default_factory=dict)  # participant id -> municipal reference


async def build_world(
    contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, cast: Cast, *, per_municipality: int = 2
) -> World:
    terms = employment_terms(cast, max_participants=max(200, 2 * per_municipality))
    contract_id, version_id = await active_contract(contracts, cast, terms)
    world = World(cast, contract_id, version_id, {"657": [], "791": []})
    enrolled = TODAY - timedelta(days=30)
    index = 0
    for code in ("657", "791"):
        references, batch = [], []
        for _ in range(per_municipality):
            index += 1
            references.append(f"SAG-{code}-{index}")
            batch.append(
                enrol(
                    outcomes,
                    cast.provider,
                    cast,
                    contract_id,
                    synthetic_cpr(index),
                    municipality_code=code,
                    enrolment_date=enrolled,
                    municipal_reference=references[-1],
                )
            )
        for participant, reference in zip(await _bounded(batch), references, strict=True):
            world.participants[code].append(participant["id"])
            world.references[participant["id"]] = reference
    payer_of = {"657": cast.payer_a, "791": cast.payer_b}
    for code, ids in world.participants.items():
        await _bounded([confirm(outcomes, payer_of[code], pid) for pid in ids[:2]])
    first = world.participants["657"][0]
    submitted = await claim(outcomes, cast.provider, first, "job_start", enrolled + timedelta(days=10))
    world.claims.append(submitted["id"])
    world.claim_owner[submitted["id"]] = first
    await decide(outcomes, cast.payer_a, submitted["id"], "verified")
    second = world.participants["791"][0]
    pending = await claim(outcomes, cast.provider, second, "job_start", enrolled + timedelta(days=12))
    world.claims.append(pending["id"])
    world.claim_owner[pending["id"]] = second
    start, end = quarter(TODAY)
    check(
        await outcomes.post(
            "/v1/payment-statements",
            json={
                "contract_id": str(contract_id),
                "payer_organisation_id": str(cast.payer_a.organisation_id),
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            },
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )
    return world


async def _bounded(calls: list[Any], limit: int = 4) -> list[Any]:
    """Run the calls a few at a time (two cores shared by everyone's tests), keeping their order."""
    gate = asyncio.Semaphore(limit)

    async def run(call: Any) -> Any:
        async with gate:
            return await call

    return list(await asyncio.gather(*(run(c) for c in calls)))


# --- a query as a tree, pruned by the policy ------------------------------------------------------------

# Each field: (the GraphQL type it returns when it is an object type, or None; its children).
Tree = dict[str, tuple[str | None, "Tree"]]


def leaves(*names: str) -> Tree:
    return {name: (None, {}) for name in names}


def name_of(key: str) -> str:
    return key.split("(")[0]


def render(tree: Tree) -> str:
    parts = []
    for field_key, (_, children) in tree.items():
        parts.append(f"{field_key} {{ {render(children)} }}" if children else field_key)
    return " ".join(parts)


def prune(partner_type: str, type_name: str, tree: Tree) -> tuple[Tree, set[tuple[str, str]]]:
    """The tree a partner type may query, and the topmost (type, field) pairs the policy hides from it."""
    kept: Tree = {}
    hidden: set[tuple[str, str]] = set()
    for field_key, (returns, children) in tree.items():
        name = name_of(field_key)
        if not policy.field_visible(partner_type, type_name, name, (returns,) if returns else ()):
            hidden.add((type_name, name))
            continue
        if returns:
            sub, sub_hidden = prune(partner_type, returns, children)
            kept[field_key] = (returns, sub)
            hidden |= sub_hidden
        else:
            kept[field_key] = (None, {})
    return kept, hidden


def assert_shape(data: Any, tree: Tree, path: str = "") -> None:
    """Every object in `data` has exactly the fields of `tree`, at every level."""
    if data is None:
        return
    if isinstance(data, list):
        for item in data:
            assert_shape(item, tree, path)
        return
    assert set(data) == {name_of(k) for k in tree}, (path, sorted(data), sorted(tree))
    for field_key, (_, children) in tree.items():
        if children:
            assert_shape(data[name_of(field_key)], children, f"{path}.{name_of(field_key)}")
