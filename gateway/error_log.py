"""What the gateway logs of an operation's errors: never the document, its variables or an error's message.

A document, its variables and GraphQL's error messages can all hold a CPR number ("String cannot represent
a non string value: 0101901234", a source excerpt under a syntax error). One line per operation says only:

- `operation`: the operation name when it is a plain GraphQL Name of at most 64 characters with no run of
  more than four digits (`Report2026` passes, `_0101901234` does not), `anonymous` when there is none,
  else `invalid`;
- `document`: `sha256:<hex>` of the document (the trusted-document id, so a shipped operation is found);
- `codes`: each error's `extensions.code`, or the class GraphQL gave it (`syntax-error`,
  `invalid-document`, `invalid-variables`, `invalid-global-id`, `field-error`, `internal-error`);
- `fields`: the schema fields that failed during execution (never a client's alias);
- `causes`: the classes of the exceptions beneath the errors (a scalar's `ValueError`, a bug's `KeyError`);
- for an unexpected error (raised by a resolver, not a refusal), its class and where it was raised
  (file, line, function) — never its message, which may quote the data it failed on.

Client mistakes and domain refusals log at info, unexpected errors at error. Strawberry's own logger,
which writes each error with its source excerpt, is not called.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Sequence
from typing import Any

import structlog
from graphql import FieldNode, GraphQLError, GraphQLSyntaxError, VariableDefinitionNode
from strawberry.relay.types import InvalidGlobalIDError

from gateway.hardening import DomainError, document_id

log = structlog.get_logger("effekt.graphql")

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_DIGIT_RUN = re.compile(r"[0-9]{5}")
_SLUG = re.compile(r"[a-z][a-z0-9-]{0,63}")
MAX_ERRORS = 20  # per line: a document of 2000 tokens can make hundreds of errors
MAX_FRAMES = 8


def operation_label(name: object) -> str:
    """The operation name, when it cannot carry a number worth hiding (module docstring)."""
    if name is None:
        return "anonymous"
    if isinstance(name, str) and _NAME.fullmatch(name) and not _DIGIT_RUN.search(name):
        return name
    return "invalid"


def root_cause(error: GraphQLError) -> BaseException | None:
    """The exception beneath GraphQL's wrappers, if any."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def unexpected(error: GraphQLError) -> BaseException | None:
    """The exception a resolver raised that is not a refusal: a bug or an outage. Errors without a path
    come before execution, from the document or the variables: the client's, whatever raised them."""
    cause = root_cause(error)
    if error.path is None or cause is None or isinstance(cause, DomainError | GraphQLError):
        return None
    return cause


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    cause = root_cause(error)
    if not isinstance(code, str) and isinstance(cause, GraphQLError | DomainError):
        code = (cause.extensions or {}).get("code")
    if isinstance(code, str) and _SLUG.fullmatch(code):
        return code
    if isinstance(error, GraphQLSyntaxError):
        return "syntax-error"
    if isinstance(cause, InvalidGlobalIDError):  # an `ID!` argument that is no global id (nodes.py)
        return "invalid-global-id"
    if any(isinstance(node, VariableDefinitionNode) for node in error.nodes or ()):
        return "invalid-variables"
    if unexpected(error) is not None:
        return "internal-error"
    return "field-error" if error.path is not None else "invalid-document"


def where(exc: BaseException) -> list[str]:
    """The innermost frames of an exception's traceback as `file:line in function`, without its message."""
    frames = traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]
    return [
        f"{frame.filename.rsplit('/site-packages/', 1)[-1]}:{frame.lineno} in {frame.name}"
        for frame in frames
    ]


def _class(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def log_errors(errors: Sequence[GraphQLError], *, query: object, operation_name: object) -> None:
    """One line for an operation's errors (module docstring)."""
    shown = list(errors)[:MAX_ERRORS]
    fields = sorted(
        {
            node.name.value
            for e in shown
            if e.path is not None
            for node in e.nodes or ()
            if isinstance(node, FieldNode)
        }
    )
    line: dict[str, Any] = {
        "operation": operation_label(operation_name),
        "document": document_id(query) if isinstance(query, str) else None,
        "codes": [error_code(e) for e in shown],
        "errors": len(errors),
    }
    if fields:
        line["fields"] = fields
    causes = {_class(c) for c in map(root_cause, shown) if c is not None and not isinstance(c, GraphQLError)}
    if causes:
        line["causes"] = sorted(causes)
    failures = [exc for exc in map(unexpected, shown) if exc is not None]
    if not failures:
        log.info("graphql_errors", **line)
        return
    log.error("graphql_errors", **line, exception=_class(failures[0]), where=where(failures[0]))


def log_task_failure(exc: BaseException) -> None:
    """A WebSocket operation's task that failed outside GraphQL's error handling: where, never why."""
    log.error(
        "graphql_socket_task_failed",
        exception=_class(exc),
        where=where(exc),
    )
