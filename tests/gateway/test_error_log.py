"""What the gateway logs of a failed operation: a safe operation name, the document's hash and error codes,
never the document, the variables or an error message (pure logic; tests/gateway/test_log_privacy.py scans
a running platform's logs)."""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from graphql import GraphQLError

from gateway import error_log
from gateway.error_log import error_code, log_errors, operation_label
from gateway.hardening import DomainError, document_id
from gateway.schema import build_schema

CPR = "0101904321"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("PayerDesk", "PayerDesk"),
        ("Report2026", "Report2026"),
        (None, "anonymous"),
        (CPR, "invalid"),
        (f"_{CPR}", "invalid"),
        (f"Case_{CPR[:6]}", "invalid"),
        ("0101-90", "invalid"),
        ("Payer Desk", "invalid"),
        ("A" * 65, "invalid"),
        (1234, "invalid"),
        (["Me"], "invalid"),
    ],
)
def test_only_a_plain_name_without_long_digit_runs_is_logged(name: object, label: str) -> None:
    assert operation_label(name) == label


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """The lines the gateway logs during the test, from structlog's defaults and a logger of its own: an
    app started in this process before configured structlog in its lifespan (kit/logging.py: a level
    filter, loggers cached on first use), which `capture_logs`, swapping only the processors, keeps."""
    configured = structlog.get_config()
    structlog.reset_defaults()
    try:
        with structlog.testing.capture_logs() as captured:
            monkeypatch.setattr(error_log, "log", structlog.get_logger("effekt.graphql"))
            yield captured
    finally:
        structlog.configure(**configured)


async def _errors(query: str, variables: dict[str, Any] | None = None) -> list[GraphQLError]:
    result = await build_schema("provider").execute(
        query, variable_values=variables, context_value=SimpleNamespace()
    )
    assert result.errors
    return list(result.errors)


async def test_each_error_is_named_by_its_class_and_a_limit_or_refusal_by_its_code() -> None:
    syntax = await _errors(f"query Me {{ me {{ {CPR} }}")
    unknown = await _errors(f'query Me {{ me(cpr: "{CPR}") {{ subject }} }}')
    variables = await _errors(
        "query One($n: Int!) { partnerships(first: $n) { nodes { name } } }", {"n": CPR}
    )
    not_an_id = await _errors("query One($id: ID!) { partnership(id: $id) { name } }", {"id": CPR})
    bug = await _errors("query Me { me { subject } }")  # no principal in the context: a resolver fails
    assert [error_code(e) for e in syntax] == ["syntax-error"]
    assert [error_code(e) for e in unknown] == ["invalid-document"]
    assert [error_code(e) for e in variables] == ["invalid-variables"]
    assert [error_code(e) for e in not_an_id] == ["invalid-global-id"]
    assert [error_code(e) for e in bug] == ["internal-error"]
    refused = GraphQLError("no", path=["partnership"], original_error=DomainError("no", code="not-a-partner"))
    assert error_code(refused) == "not-a-partner"
    assert error_code(GraphQLError("x", extensions={"code": f"Not a slug {CPR}"})) == "invalid-document"


async def test_the_schema_logs_codes_and_a_hash_but_no_text_of_the_request(
    lines: list[MutableMapping[str, Any]],
) -> None:
    query = f'query _{CPR} {{ me(cpr: "{CPR}") {{ subject }} }}'
    await _errors(query)
    await _errors("query Me { me { subject } }")
    await _errors("query One($id: ID!) { partnership(id: $id) { name } }", {"id": CPR})
    refused, failed, not_an_id = lines
    assert refused["log_level"] == "info"
    assert refused["operation"] == "invalid"
    assert refused["document"] == document_id(query)
    assert refused["codes"] == ["invalid-document"]
    assert failed["log_level"] == "error"
    assert failed["operation"] == "Me"
    assert failed["codes"] == ["internal-error"]
    assert failed["fields"] == ["me"]
    assert failed["exception"] == "builtins.AttributeError"
    assert any("gateway/" in frame for frame in failed["where"])
    assert not_an_id["log_level"] == "info"
    assert not_an_id["codes"] == ["invalid-global-id"]
    assert CPR not in json.dumps(lines)
    assert "principal" not in json.dumps(lines)


def test_an_operation_with_many_errors_logs_one_bounded_line(lines: list[MutableMapping[str, Any]]) -> None:
    errors = [GraphQLError(f"Cannot query field '_{CPR}{i}'") for i in range(500)]
    log_errors(errors, query="{ x }", operation_name=None)
    (line,) = lines
    assert line["errors"] == 500
    assert len(line["codes"]) == 20
    assert line["operation"] == "anonymous"
