"""The GraphQL half of the authorisation matrix: every Query, Mutation and Subscription field of the full
schema by every partner type, against `GRAPHQL` in `tests/authorisation.py`.

A root field the table does not name fails here, as a REST route does in the REST matrix. Each partner
type's schema variant must hold exactly the fields the table gives it (checked on the built schemas, and
by introspection on the running gateway with each cast member's own token); without a valid token the
gateway answers 401 before any field is resolved.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from effekt.launcher import Platform
from gateway import policy
from gateway.schema import build_schema, full_schema
from tests.actors import Cast, bearer, make_cast
from tests.authorisation import GRAPHQL, graphql_uncovered
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
async def graphql_cast(platform: Platform) -> Cast:
    return await make_cast(platform)


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
