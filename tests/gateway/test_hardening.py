"""The gateway's own limits: query cost, trusted documents, error masking (pure logic)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, cast

import pytest
from graphql import FragmentDefinitionNode, GraphQLError, OperationDefinitionNode, parse

from gateway.hardening import DomainError, TrustedDocuments, document_id, is_client_safe, selection_cost


def cost(query: str) -> int:
    document = parse(query)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return selection_cost(operation.selection_set, fragments)


def test_scalar_fields_cost_one_each() -> None:
    assert cost("{ me { subject kind } }") == 3


def test_lists_multiply_what_they_contain() -> None:
    assert cost("{ partnerships(first: 10) { id name } }") == 10 * 3
    nested = "{ partnerships(first: 10) { claims(first: 100) { id } } }"
    assert cost(nested) == 10 * (1 + 100 * 2)


def test_a_page_size_given_by_variable_is_costed_at_the_default() -> None:
    assert cost("query($n: Int) { partnerships(first: $n) { id } }") == 50 * 2


def test_fragments_are_costed_where_they_are_spread_and_cycles_stop() -> None:
    query = "{ partnerships(first: 2) { ...F } } fragment F on Partnership { id name ...F }"
    assert cost(query) == 2 * 3


def test_trusted_documents_are_found_by_their_hash(tmp_path: Path) -> None:
    query = "query Me { me { subject } }"
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps({document_id(query): query}))
    trusted = TrustedDocuments.from_file(path)
    assert trusted.get(document_id(query)) == query
    assert trusted.get(document_id(query).removeprefix("sha256:")) == query
    assert query in trusted
    assert "{ me { kind } }" not in trusted


def test_a_trusted_documents_file_with_a_wrong_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps({"sha256:" + "0" * 64: "{ me { subject } }"}))
    with pytest.raises(ValueError, match="not the SHA-256"):
        TrustedDocuments.from_file(path)


def test_only_domain_and_graphql_errors_reach_the_client_unmasked() -> None:
    assert is_client_safe(GraphQLError("Cannot query field 'x'"))
    assert is_client_safe(GraphQLError("no", original_error=DomainError("no", code="forbidden")))
    assert not is_client_safe(GraphQLError("boom", original_error=KeyError("password_hash")))


def test_with_the_schema_an_unpaged_list_counts_as_several_items() -> None:
    from graphql import build_schema as build_sdl

    from gateway.hardening import UNPAGED_LIST

    schema = build_sdl(
        "type Query { people(first: Int): PersonConnection }"
        " type PersonConnection { edges: [PersonEdge!]! }"
        " type PersonEdge { node: Person! }"
        " type Person { id: ID! claims: [Claim!]! } type Claim { id: ID! }"
    )
    document = parse("{ people(first: 10) { edges { node { id claims { id } } } } }")
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    cost = selection_cost(operation.selection_set, {}, parent=schema.query_type, schema=schema)
    # people: 10 * (1 + edges (1 + node (1 + id + claims: UNPAGED_LIST * (1 + id))))
    assert cost == 10 * (1 + 1 * (1 + 1 * (1 + 1 + 1 * UNPAGED_LIST * (1 + 1))))


def test_a_list_of_scalars_costs_one_like_a_scalar() -> None:
    """A list of scalars (roles, the names of withheld fields) has no fields to resolve per item."""
    from graphql import build_schema as build_sdl

    schema = build_sdl(
        "type Query { summary: Summary } type Summary { suppressed: [String!]! rows: [Row!]! }"
        " type Row { suppressed: [String!]! }"
    )
    document = parse("{ summary { suppressed rows { suppressed } } }")
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    cost = selection_cost(operation.selection_set, {}, parent=schema.query_type, schema=schema)
    assert cost == 1 + 1 + 5 * (1 + 1)  # summary, its list of names, rows (5 unpaged) and theirs


async def test_a_repeated_document_is_validated_once_and_the_limits_still_apply() -> None:
    """The limits' rules are built once per schema, so strawberry's validation cache can hit: a
    dashboard's document was otherwise validated on every request. The cache must not let a costly
    document through on a second try."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    from gateway.schema import MAX_DEPTH, build_schema

    schema = build_schema("investor")
    cache = cast("functools._lru_cache_wrapper[Any]", _get_validate_cache(1024))
    query = "query Repeated { __typename }"
    first = await schema.execute(query)
    hits = cache.cache_info().hits
    second = await schema.execute(query)
    assert first.errors is None
    assert second.errors is None
    assert cache.cache_info().hits == hits + 1

    deep = "query Deep { " + "a { " * (MAX_DEPTH + 2) + "b" + " }" * (MAX_DEPTH + 2) + " }"
    for _ in range(2):
        refused = await schema.execute(deep)
        assert refused.errors
        assert "exceeds maximum operation depth" in refused.errors[0].message
