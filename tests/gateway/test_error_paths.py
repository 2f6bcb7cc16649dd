"""A service's field names become the GraphQL paths the client sent them under (gateway/results.py)."""

from __future__ import annotations

import pytest

from gateway.results import graphql_path


@pytest.mark.parametrize(
    ("service", "body", "graphql"),
    [
        ("body.municipality_code", "input", "input.municipalityCode"),
        ("municipality_code", "input", "input.municipalityCode"),
        ("/evidence_media_type", "input", "input.evidenceMediaType"),
        ("body.event_types.2", "input", "input.eventTypes.2"),
        ("body.reason", None, "reason"),
        ("path.version_id", None, "versionId"),
        ("If-Match", None, "expectedVersion"),
        ("Idempotency-Key", "input", "idempotencyKey"),
        # Inside a JSON argument the keys are the terms document's own.
        ("body.terms.caps.contract_total", None, "terms.caps.contract_total"),
        ("/terms/outcomes/0/verifier_roles", None, "terms.outcomes.0.verifier_roles"),
        ("/a~1b", None, "a/b"),
    ],
)
def test_service_field_paths_map_to_graphql_paths(service: str, body: str | None, graphql: str) -> None:
    assert graphql_path(service, body) == graphql
