"""An investor's token cannot reach a participant: not by a field, an alias, a fragment, a union member, a
mutation result or introspection. The list of what must stay hidden comes from gateway/policy.py."""

from __future__ import annotations

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.http import new_client
from gateway import policy
from tests.gateway.support import gid, gql

INTROSPECTION = """
{ __schema { types { name kind
    fields(includeDeprecated: true) { name }
    inputFields { name }
    possibleTypes { name } } } }
"""


@pytest.fixture(scope="module")
async def investors(platform: Platform, shared_cast: Cast) -> tuple[Cast, list[Actor]]:
    cast = shared_cast
    return cast, [cast.investor, cast.investor_machine]


def _hidden_from(partner_type: str) -> tuple[set[str], set[str]]:
    types = {name for name, who in policy.TYPES.items() if partner_type not in who}
    fields = {name for name, who in policy.FIELDS.items() if partner_type not in who}
    return types, fields


async def test_introspection_shows_an_investor_no_hidden_type_or_field(
    gateway: httpx.AsyncClient, investors: tuple[Cast, list[Actor]]
) -> None:
    hidden_types, hidden_fields = _hidden_from("investor")
    assert "Participant" in hidden_types  # the policy this test relies on
    for actor in investors[1]:
        body = await gql(gateway, actor, INTROSPECTION)
        types = body["data"]["__schema"]["types"]
        names = {t["name"] for t in types}
        assert not names & hidden_types, names & hidden_types
        shown_fields = {f"{t['name']}.{f['name']}" for t in types for f in t["fields"] or ()}
        assert not shown_fields & hidden_fields, shown_fields & hidden_fields
        members = {p["name"] for t in types for p in t["possibleTypes"] or ()}
        assert not members & hidden_types
        # Nothing in the schema even mentions a participant.
        assert not [n for n in names | shown_fields if "participant" in n.lower()], names | shown_fields


@pytest.mark.parametrize(
    "query",
    [
        "query($id: ID!) { participant(id: $id) { id pseudonym } }",
        "query($id: ID!) { p: partnership(id: $id) { people: participants { edges { node { id } } } } }",
        "query($id: ID!) { partnership(id: $id) { ...P } }"
        " fragment P on Partnership { participants { nodes { id } } }",
        "query($id: ID!) { partnership(id: $id) { ...X } } fragment X on Participant { id }",
        "query($id: ID!) { partnership(id: $id) { ... on Participant { id } } }",
        "query($id: ID!) { partnership(id: $id) { claims { nodes { participant { pseudonym } } } } }",
        "query($id: ID!) { partnership(id: $id) { ledger { nodes { participantId subject data } } } }",
        "mutation($id: ID!) { confirmEligibility(participantId: $id) { ... on Participant { pseudonym } } }",
    ],
)
async def test_no_query_form_reaches_a_participant(
    gateway: httpx.AsyncClient, investors: tuple[Cast, list[Actor]], query: str
) -> None:
    cast, actors = investors
    for actor in actors:
        body = await gql(gateway, actor, query, {"id": gid("Partnership", cast.partnership_id)}, status=400)
        assert "data" not in body
        assert body["errors"]
        assert all("Did you mean" not in e["message"] for e in body["errors"])


async def test_type_lookup_by_name_answers_null_for_an_investor(
    gateway: httpx.AsyncClient, investors: tuple[Cast, list[Actor]]
) -> None:
    _, actors = investors
    for name in sorted(_hidden_from("investor")[0]):
        body = await gql(gateway, actors[0], f'{{ __type(name: "{name}") {{ name }} }}')
        assert body["data"] == {"__type": None}, name


async def test_the_service_is_a_second_wall_behind_the_gateway(
    platform: Platform, investors: tuple[Cast, list[Actor]]
) -> None:
    """Even bypassing the gateway, the outcome service lists no participant to an investor."""
    cast, actors = investors
    async with new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes:
        for actor in actors:
            response = await outcomes.get(
                "/v1/participants", params={"partnership_id": str(cast.partnership_id)}, headers=actor.headers
            )
            assert response.status_code in (200, 403), response.text
            if response.status_code == 200:
                assert response.json()["items"] == []
