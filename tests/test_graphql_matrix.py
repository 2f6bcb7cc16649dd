"""The GraphQL half of the authorisation matrix: every Query, Mutation and Subscription field of the full
schema by every partner type, against `GRAPHQL` in `tests/authorisation.py`.

A root field the table does not name fails here, as a REST route does in the REST matrix. Each partner
type's schema variant must hold exactly the fields the table gives it (checked on the built schemas, and
by introspection on the running gateway with each cast member's own token); without a valid token the
gateway answers 401 before any field is resolved.

`node(id:)` reads any object by its global id, so it must give each caller exactly what the typed field
gives it (null for a neighbour's participant, a hidden type, another type's id), and never read a global
id as another type than the one it names.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from gateway import policy
from gateway.schema import build_schema, full_schema
from tests.actors import Actor, Cast, bearer
from tests.authorisation import GRAPHQL, graphql_uncovered
from tests.gateway.support import World, build_world, gid, gql
from tests.matrix_scene import expired_token

ROOTS = ("Query", "Mutation", "Subscription")
_ROOT_TYPES = " ".join(f'{name.lower()}: __type(name: "{name}") {{ fields {{ name }} }}' for name in ROOTS)
INTROSPECTION = "{ " + _ROOT_TYPES + " }"


def root_fields(schema: object) -> set[str]:
    graphql_schema = schema._schema  # type: ignore[attr-defined]
    return {
        f"{root}.{name}"
        for root in ROOTS
        if (definition := graphql_schema.get_type(root)) is not None
        for name in definition.fields
    }


def expected_for(partner_type: str) -> set[str]:
    return {name for name, types in GRAPHQL.items() if partner_type in types}


def test_the_table_names_every_root_field_and_nothing_else() -> None:
    fields = root_fields(full_schema())
    assert len(fields) > 30
    assert graphql_uncovered(fields) == set(), "root fields the GraphQL table does not mention"
    assert set(GRAPHQL) - fields == set(), "table entries for fields the schema does not have"
    # Proof the check can fail: without one entry, exactly that field is reported.
    assert graphql_uncovered(fields, without={"Mutation.verifyClaim"}) == {"Mutation.verifyClaim"}
    assert set(policy.PARTNER_TYPES) == {t for types in GRAPHQL.values() for t in types}


@pytest.mark.parametrize("partner_type", policy.PARTNER_TYPES)
def test_each_partner_type_schema_holds_exactly_the_fields_the_table_gives_it(partner_type: str) -> None:
    assert root_fields(build_schema(partner_type)) == expected_for(partner_type)


@pytest.fixture(scope="module")
def graphql_cast(shared_cast: Cast) -> Cast:
    return shared_cast


async def test_the_live_gateway_serves_each_caller_its_variant_and_refuses_no_token(
    platform: Platform, graphql_cast: Cast, gateway: httpx.AsyncClient
) -> None:
    cast = graphql_cast
    callers = {
        "payer": cast.payer_a,
        "provider": cast.provider,
        "provider_member": cast.provider_member,
        "investor": cast.investor,
        "evaluator": cast.evaluator,
        "adviser": cast.adviser,
        "observer": cast.observer,
        "outsider": cast.outsider,
        "operator": cast.operator,
    }

    async def fields_seen(headers: dict[str, str]) -> tuple[int, set[str]]:
        response = await gateway.post("/graphql", json={"query": INTROSPECTION}, headers=headers)
        if response.status_code != 200:
            return response.status_code, set()
        data = response.json()["data"]
        return 200, {
            f"{root}.{field['name']}"
            for root in ROOTS
            if data[root.lower()] is not None
            for field in data[root.lower()]["fields"]
        }

    answers = await asyncio.gather(*(fields_seen(actor.headers) for actor in callers.values()))
    for (kind, actor), (status, seen) in zip(callers.items(), answers, strict=True):
        assert status == 200, kind
        assert seen == expected_for(actor.partner_type), kind
    expired = await expired_token(platform, cast.payer_a.token)
    for headers in ({}, bearer(expired)):
        status, _ = await fields_seen(headers)
        assert status == 401, headers


@pytest.fixture(scope="module")
async def node_world(platform: Platform, graphql_cast: Cast) -> World:
    async with (
        new_client(base_url=platform.url("contracts"), timeout=30) as contracts,
        new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        return await build_world(contracts, outcomes, graphql_cast)


def _callers(cast: Cast) -> dict[str, Actor]:
    return {
        "payer_a": cast.payer_a,
        "payer_b": cast.payer_b,
        "provider": cast.provider,
        "provider_member": cast.provider_member,
        "investor": cast.investor,
        "evaluator": cast.evaluator,
        "adviser": cast.adviser,
        "observer": cast.observer,
        "outsider": cast.outsider,
        "operator": cast.operator,
    }


def _aliases(ids: list[str]) -> str:
    """`node` for each id, through the interface: a type the caller's schema lacks cannot be named."""
    return " ".join(f'n{i}: node(id: "{g}") {{ id }}' for i, g in enumerate(ids))


def _found(data: dict[str, Any], count: int) -> list[str | None]:
    return [node["id"] if (node := data[f"n{i}"]) else None for i in range(count)]


@pytest.mark.parametrize(
    "who",
    [
        "payer_a",
        "payer_b",
        "provider",
        "provider_member",
        "investor",
        "evaluator",
        "adviser",
        "observer",
        "outsider",
        "operator",
    ],
)
async def test_node_gives_each_caller_exactly_what_the_typed_field_gives(
    gateway: httpx.AsyncClient, graphql_cast: Cast, node_world: World, who: str
) -> None:
    actor = _callers(graphql_cast)[who]
    world = node_world
    participants = [p for ids in world.participants.values() for p in ids]
    # Participants: as `participant(id:)`, which only person-level schemas have (elsewhere: null).
    by_node = await gql(gateway, actor, "{ " + _aliases([gid("Participant", p) for p in participants]) + " }")
    assert "errors" not in by_node, by_node
    if "Query.participant" in expected_for(actor.partner_type):
        typed_query = " ".join(
            f'n{i}: participant(id: "{gid("Participant", p)}") {{ id }}' for i, p in enumerate(participants)
        )
        typed = await gql(gateway, actor, "{ " + typed_query + " }")
        assert "errors" not in typed, typed
        expected = _found(typed["data"], len(participants))
    else:
        expected = [None] * len(participants)
    assert _found(by_node["data"], len(participants)) == expected
    # A neighbour's resident is null to a payer, its own are found.
    if who in ("payer_a", "payer_b"):
        own = set(world.participants[actor.municipality_code or ""])
        assert {p for p in expected if p} == {gid("Participant", p) for p in own}
    # Claims: as the partnership's `claims` connection gives them.
    claims = list(world.claims)
    by_node = await gql(gateway, actor, "{ " + _aliases([gid("Claim", c) for c in claims]) + " }")
    assert "errors" not in by_node, by_node
    if actor.partner_type in policy.PERSON_LEVEL:
        listed = await gql(
            gateway,
            actor,
            "query($id: ID!) { partnership(id: $id) { claims(first: 50) { nodes { uuid } } } }",
            {"id": gid("Partnership", graphql_cast.partnership_id)},
        )
        partnership = listed["data"]["partnership"]
        visible = {n["uuid"] for n in partnership["claims"]["nodes"]} if partnership else set()
    else:
        visible = set()
    assert _found(by_node["data"], len(claims)) == [gid("Claim", c) if c in visible else None for c in claims]
    # The partnership and its contract: as `partnership(id:)` and `partnership.contract`.
    pid = gid("Partnership", graphql_cast.partnership_id)
    both = await gql(
        gateway,
        actor,
        "query($p: ID!, $c: ID!) { typed: partnership(id: $p) { uuid contract { uuid } }"
        " node: node(id: $p) { ... on Partnership { uuid } }"
        " contract: node(id: $c) { ... on Contract { uuid } } }",
        {"p": pid, "c": gid("Contract", world.contract_id)},
    )
    assert "errors" not in both, both
    typed_partnership = both["data"]["typed"]
    assert both["data"]["node"] == ({"uuid": typed_partnership["uuid"]} if typed_partnership else None)
    typed_contract = typed_partnership["contract"] if typed_partnership else None
    assert both["data"]["contract"] == ({"uuid": typed_contract["uuid"]} if typed_contract else None)


async def test_a_global_id_is_never_read_as_another_type(
    gateway: httpx.AsyncClient, graphql_cast: Cast, node_world: World
) -> None:
    cast, world = graphql_cast, node_world
    claim, participant = world.claims[0], world.claim_owner[world.claims[0]]
    ids = [
        gid("Claim", claim),  # the claim itself: found
        gid("Contract", claim),  # the claim's UUID dressed as a contract's: not among contracts
        gid("Partnership", participant),
        gid("Participant", claim),
        gid("Statement", world.contract_id),
        gid("Contract", world.contract_id),  # the contract itself: found
        gid("NoSuchType", claim),
        gid("Claim", "not-a-uuid"),
    ]
    body = await gql(
        gateway,
        cast.provider,
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id"
        " ... on Claim { uuid } ... on Contract { uuid } } }",
        {"ids": ids},
    )
    assert "errors" not in body, body
    found = body["data"]["nodes"]
    assert found[0] == {"__typename": "Claim", "id": ids[0], "uuid": claim}
    assert found[5] == {"__typename": "Contract", "id": ids[5], "uuid": str(world.contract_id)}
    assert [found[i] for i in (1, 2, 3, 4, 6, 7)] == [None] * 6
    # The typed fields refuse another type's id the same way: null.
    typed = await gql(
        gateway,
        cast.provider,
        "query($c: ID!, $p: ID!) { partnership(id: $c) { uuid } participant(id: $p) { uuid } }",
        {"c": gid("Claim", cast.partnership_id), "p": gid("Claim", participant)},
    )
    assert typed["data"] == {"partnership": None, "participant": None}, typed
    # A mutation refuses it with a typed error on the argument, before any service is asked.
    verify = await gql(
        gateway,
        cast.payer_a,
        "mutation($id: ID!) { verifyClaim(claimId: $id, decision: VERIFIED) { __typename"
        " ... on InvalidInput { code fields { field reason } } } }",
        {"id": gid("Contract", world.contract_id)},
    )
    result = verify["data"]["verifyClaim"]
    assert result["__typename"] == "InvalidInput", verify
    assert result["code"] == "wrong-node-type"
    assert result["fields"] == [
        {"field": "claimId", "reason": "expected a global id of a Claim, got one of a Contract"}
    ]
    enrol = await gql(
        gateway,
        cast.provider,
        "mutation($input: EnrolParticipantInput!) { enrolParticipant(input: $input) { __typename"
        " ... on InvalidInput { code fields { field } } } }",
        {
            "input": {
                "partnershipId": gid("Partnership", cast.partnership_id),
                "contractId": gid("Partnership", world.contract_id),
                "cpr": "0101900000",
                "municipalityCode": "657",
                "enrolmentDate": "2026-01-01",
            }
        },
    )
    assert enrol["data"]["enrolParticipant"] == {
        "__typename": "InvalidInput",
        "code": "wrong-node-type",
        "fields": [{"field": "input.contractId"}],
    }, enrol
    # Not a global id at all (a raw UUID): a GraphQL error on the field.
    malformed = await gql(gateway, cast.provider, "query($id: ID!) { node(id: $id) { id } }", {"id": claim})
    assert malformed["data"] == {"node": None}
    assert malformed["errors"][0]["message"].startswith("Value cannot represent a GlobalID"), malformed
