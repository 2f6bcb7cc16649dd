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
and returns `await attempt(call, X.from_row)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

import strawberry

from gateway.clients.transport import ServiceUnavailable
from gateway.hardening import DomainError


@strawberry.interface
class MutationError:
    code: str
    message: str


@strawberry.type
class FieldError:
    field: str = strawberry.field(description="The input field, as a dotted path (`terms.caps.total`).")
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


def _field_path(param: dict[str, Any]) -> str:
    name = param.get("name") or param.get("field") or param.get("loc") or ""
    if isinstance(name, list):
        name = ".".join(str(p) for p in name if p != "body")
    return str(name)


def error_result(error: DomainError) -> AnyError:
    code, message = error.code, str(error)
    if isinstance(error, ServiceUnavailable):
        return Unavailable(code=code, message=message, service=str(error.extensions.get("service", "")))
    status = int(error.extensions.get("status") or 0)
    params = error.extensions.get("invalid_params") or []
    if params:
        fields = [FieldError(field=_field_path(p), reason=str(p.get("reason", ""))) for p in params]
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


async def attempt(call: Awaitable[A], ok: Callable[[A], T]) -> T | AnyError:
    """Run a service write; its problem becomes a typed error result, its answer `ok(answer)`."""
    try:
        return ok(await call)
    except DomainError as error:
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
