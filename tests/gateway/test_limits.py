"""Over-deep, over-costly, alias-bomb and oversized queries are refused before anything runs, with a
clear error and a 400 (GraphQL-over-HTTP); so are batches and unauthenticated calls."""

from __future__ import annotations

import httpx
import pytest

from effekt.sandbox.cast import Cast
from gateway.schema import MAX_ALIASES, MAX_COST, MAX_DEPTH, MAX_TOKENS
from tests.gateway.support import gid, gql


@pytest.fixture(scope="module")
def limits_cast(shared_cast: Cast) -> Cast:
    return shared_cast


def _deep(levels: int) -> str:
    """Claim → participant → claims → participant …: a cycle the schema allows, `levels` deep."""
    inner = "id"
    for _ in range(levels):
        inner = f"participant {{ claims {{ {inner} }} }}"
    return f"query($id: ID!) {{ partnership(id: $id) {{ claims(first: 1) {{ nodes {{ {inner} }} }} }} }}"


async def _refused(gateway: httpx.AsyncClient, cast: Cast, query: str) -> list[dict[str, object]]:
    body = await gql(
        gateway, cast.provider, query, {"id": gid("Partnership", cast.partnership_id)}, status=400
    )
    assert "data" not in body, body
    errors: list[dict[str, object]] = body["errors"]
    return errors


def _code(error: dict[str, object]) -> object:
    extensions = error.get("extensions")
    return extensions.get("code") if isinstance(extensions, dict) else None


async def test_an_over_deep_query_is_refused_naming_the_limit(
    gateway: httpx.AsyncClient, limits_cast: Cast
) -> None:
    errors = await _refused(gateway, limits_cast, _deep(MAX_DEPTH))
    assert any(f"maximum operation depth of {MAX_DEPTH}" in str(e["message"]) for e in errors), errors


async def test_a_query_within_the_depth_limit_runs(gateway: httpx.AsyncClient, limits_cast: Cast) -> None:
    body = await gql(
        gateway, limits_cast.provider, _deep(2), {"id": gid("Partnership", limits_cast.partnership_id)}
    )
    assert body["data"]["partnership"]["claims"]["nodes"] == []


async def test_an_over_costly_query_is_refused_with_its_cost(
    gateway: httpx.AsyncClient, limits_cast: Cast
) -> None:
    query = (
        "query($id: ID!) { partnership(id: $id) { participants(first: 500) { edges { node { id pseudonym "
        "claims { id status } } } } } }"
    )
    errors = await _refused(gateway, limits_cast, query)
    costly = [e for e in errors if _code(e) == "query-too-costly"]
    assert costly, errors
    extensions = costly[0]["extensions"]
    assert isinstance(extensions, dict)
    assert extensions["max_cost"] == MAX_COST
    assert extensions["cost"] > MAX_COST


async def test_an_alias_bomb_is_refused(gateway: httpx.AsyncClient, limits_cast: Cast) -> None:
    aliases = " ".join(f"a{i}: me {{ subject }}" for i in range(MAX_ALIASES + 1))
    errors = await _refused(gateway, limits_cast, f"query {{ {aliases} }}")
    assert any("aliases" in str(e["message"]).lower() for e in errors), errors


async def test_an_oversized_document_is_refused(gateway: httpx.AsyncClient, limits_cast: Cast) -> None:
    fields = " ".join("subject" for _ in range(MAX_TOKENS))
    errors = await _refused(gateway, limits_cast, f"query {{ me {{ {fields} }} }}")
    assert any("token" in str(e["message"]).lower() for e in errors), errors


async def test_batched_operations_are_refused(gateway: httpx.AsyncClient, limits_cast: Cast) -> None:
    response = await gateway.post(
        "/graphql",
        json=[{"query": "{ me { subject } }"}, {"query": "{ me { kind } }"}],
        headers=limits_cast.provider.headers,
    )
    assert response.status_code == 400


async def test_a_call_without_a_token_is_refused_as_a_problem(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/graphql", json={"query": "{ me { subject } }"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_responses_use_the_graphql_response_media_type(
    gateway: httpx.AsyncClient, limits_cast: Cast
) -> None:
    response = await gateway.post(
        "/graphql",
        json={"query": "{ me { partnerType } }"},
        headers={**limits_cast.investor.headers, "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.json()["data"] == {"me": {"partnerType": "INVESTOR"}}
