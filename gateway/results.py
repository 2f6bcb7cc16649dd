"""Typed mutation results: each mutation returns a union of its success type and the errors below, so a
partner UI switches on `__typename` instead of parsing messages. A service's problem+json becomes the
error type for its status, keeping the service's stable `code`.

    MutationError (interface: code, message)
    ├── InvalidInput       400/422 with `invalid_params`: which field, and why
    ├── NotPermitted       401/403: the caller may not do this
    ├── NotFound           404: nothing the caller may see by that id
    ├── Conflict           409/412/428: the state or version moved on; re-read and retry
    ├── RuleViolation      422 without field errors (a domain rule, e.g. a cap or a window)
    └── Unavailable        the service did not answer; safe to retry with the same idempotency key

`Result[X]` is the GraphQL union `XResult` of `X` and every error above; a mutation declares `-> Result[X]`
and returns `await attempt(call, X.from_row)`, or `attempt(call, X.from_row, body="input")` when its
`input` argument is the service's request body. `InvalidInput.fields` name GraphQL paths
(`input.municipalityCode`), never the service's body paths (`body.municipality_code`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver, SyncExtensionResolver
from strawberry.types import Info

from gateway.clients.transport import ServiceUnavailable
from gateway.hardening import DomainError
from gateway.relay import WrongNode


@strawberry.interface
class MutationError:
    code: str
    message: str


@strawberry.type
class FieldError:
    field: str = strawberry.field(
        description="The argument or input field, as a dotted GraphQL path (`input.municipalityCode`); "
        "inside a JSON argument the document's own keys (`terms.caps.contract_total`)."
    )
    reason: str


@strawberry.type
class InvalidInput(MutationError):
    fields: list[FieldError]


@strawberry.type
class NotPermitted(MutationError):
    pass


@strawberry.type
class NotFound(MutationError):
    pass


@strawberry.type
class Conflict(MutationError):
    pass


@strawberry.type
class RuleViolation(MutationError):
    pass


@strawberry.type
class Unavailable(MutationError):
    service: str


AnyError = InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable
T = TypeVar("T")
A = TypeVar("A")


# Headers a service names in its problems, and the mutation arguments that set them.
_HEADER_ARGUMENTS = {"if-match": "expectedVersion", "idempotency-key": "idempotencyKey"}
# Where a service's validation error says the field was (FastAPI's `loc` prefixes): not part of the path.
_LOCATIONS = frozenset({"body", "query", "path", "header"})
# Arguments typed `JSON`: below them the keys are the document's own, not GraphQL names.
_JSON_ARGUMENTS = frozenset({"terms", "changed", "facts"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def graphql_path(name: str, body: str | None = None) -> str:
    """A service's field (a dotted `loc` like `body.municipality_code`, or a JSON pointer like
    `/terms/caps/0`) as the GraphQL path the client sent it under: `body` is the argument holding the
    request body (`input`), or None when the body's fields are the mutation's own arguments."""
    if (argument := _HEADER_ARGUMENTS.get(name.lower())) is not None:
        return argument
    if name.startswith("/"):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in name[1:].split("/")]
    else:
        parts = name.split(".")
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    path: list[str] = [body] if body else []
    opaque = False
    for part in parts:
        path.append(part if opaque or part.isdigit() else _camel(part))
        opaque = opaque or part in _JSON_ARGUMENTS
    return ".".join(path)


def _field_path(param: dict[str, Any], body: str | None) -> str:
    name = param.get("name") or param.get("field") or param.get("loc") or ""
    if isinstance(name, list):
        name = ".".join(str(p) for p in name)
    return graphql_path(str(name), body)


def error_result(error: DomainError, body: str | None = None) -> AnyError:
    code, message = error.code, str(error)
    if isinstance(error, ServiceUnavailable):
        return Unavailable(code=code, message=message, service=str(error.extensions.get("service", "")))
    status = int(error.extensions.get("status") or 0)
    params = error.extensions.get("invalid_params") or []
    if params:
        fields = [FieldError(field=_field_path(p, body), reason=str(p.get("reason", ""))) for p in params]
        return InvalidInput(code=code, message=message, fields=fields)
    if status in (401, 403):
        return NotPermitted(code=code, message=message)
    if status == 404:
        return NotFound(code=code, message=message)
    if status in (409, 412, 428):
        return Conflict(code=code, message=message)
    if status == 400:
        return InvalidInput(code=code, message=message, fields=[])
    return RuleViolation(code=code, message=message)


async def attempt(
    call: Awaitable[A] | Callable[[], Awaitable[A]], ok: Callable[[A], T], *, body: str | None = None
) -> T | AnyError:
    """Run a service write; its problem becomes a typed error result, its answer `ok(answer)`. `body` is
    the argument that carries the service's request body, so field errors name `input.<field>`. Pass the
    call as a function (`lambda: client.write(uuid_of(...))`) when building it can fail too, as decoding
    a global id of the wrong type does."""
    try:
        return ok(await (call() if callable(call) else call))
    except DomainError as error:
        return error_result(error, body)


class RefusedArguments(FieldExtension):
    """On every mutation (schema.py): an argument refused before any service is called — a global id of
    the wrong type (relay.py's `WrongNode`) — is the mutation's `InvalidInput` result, as a service's field
    error would be, not a GraphQL error."""

    def resolve(self, next_: SyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except WrongNode as error:
            return error_result(error)


if TYPE_CHECKING:
    # What type checkers see: the success type or any error.
    Result: TypeAlias = T | AnyError
else:

    class Result:
        """What strawberry sees: `Result[X]` is the union named `XResult`."""

        def __class_getitem__(cls, success: type) -> Any:
            return _result_union(success)

    @cache
    def _result_union(success: type) -> Any:
        return Annotated[success | AnyError, strawberry.union(f"{success.__name__}Result")]


@strawberry.type(description="The outcome of a write that returns nothing but success.")
class Done:
    ok: bool = True


IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(description="Send the same key when retrying, so the write happens once."),
]
ExpectedVersion = Annotated[
    int | None, strawberry.argument(description="The `version` you read; refused if the row moved on.")
]
