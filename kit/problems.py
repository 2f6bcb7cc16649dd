"""RFC 9457 problem details: every error Effekt returns is `application/problem+json`.

Hierarchy: `Problem` is the base of every expected failure; subclasses fix `status`, a `type` slug and a
`title`. `BadRequest` (400), `Unauthorized` (401), `Forbidden` (403), `NotFound` (404), `Conflict` (409),
`PreconditionFailed` (412), `PreconditionRequired` (428), `Unprocessable` (422), `TooManyRequests` (429)
are the common ones; services subclass them (`ContractClosed(Conflict)`). Anything unexpected becomes a
500 problem carrying only the request id, never a stack trace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from kit.metrics import route_template

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://effekt.dk/problems/"

log = structlog.get_logger(__name__)


class InvalidParam(BaseModel):
    """One field that failed validation (RFC 9457 §3.1.1 style extension)."""

    name: str = Field(description="The field, as a dotted path into the request (e.g. `body.terms.tariff`).")
    reason: str


class ProblemDetail(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str = Field(description="The `type` slug, stable for programs to branch on.")
    request_id: str | None = None
    invalid_params: list[InvalidParam] | None = None


# RFC 9457's members and ours: an extension of the same name would overwrite one (a `status` that is not
# the HTTP status breaks every client).
_STANDARD_MEMBERS = frozenset(ProblemDetail.model_fields)


class Problem(Exception):
    """An expected failure, rendered as problem+json with a fixed status."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        invalid_params: Sequence[InvalidParam] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        if clash := _STANDARD_MEMBERS & extensions.keys():
            raise TypeError(f"problem extensions may not replace the standard members {sorted(clash)}")
        super().__init__(detail or self.title)
        self.detail = detail
        self.invalid_params = list(invalid_params) if invalid_params else None
        self.headers = dict(headers or {})
        self.extensions = extensions

    @classmethod
    def field(cls, name: str, reason: str, detail: str | None = None) -> Problem:
        """The problem, naming the one field at fault."""
        return cls(detail or f"{name}: {reason}", invalid_params=[InvalidParam(name=name, reason=reason)])

    def body(self, request_id: str | None = None, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if request_id:
            body["request_id"] = request_id
        if self.invalid_params:
            body["invalid_params"] = [p.model_dump() for p in self.invalid_params]
        body.update(self.extensions)
        return body


class BadRequest(Problem):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="effekt"'})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(Problem):
    status, code, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, code, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(Problem):
    status, code, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(Problem):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(Problem):
    status, code, title = 422, "validation-failed", "The request is not valid"


class PreconditionRequired(Problem):
    status, code, title = 428, "precondition-required", "Precondition required"


class TooManyRequests(Problem):
    status, code, title = 429, "too-many-requests", "Too many requests"


class ServiceUnavailable(Problem):
    status, code, title = 503, "service-unavailable", "Service unavailable"


class InternalError(Problem):
    status, code, title = 500, "internal-error", "Internal server error"


_BY_STATUS: dict[int, type[Problem]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        PreconditionRequired,
        TooManyRequests,
        ServiceUnavailable,
        InternalError,
    )
}


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse(
        problem.body(request_id=request_id, instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


def _location(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    params = [InvalidParam(name=_location(e["loc"]), reason=e["msg"]) for e in exc.errors()]
    detail = "; ".join(f"{p.name}: {p.reason}" for p in params[:5])
    return problem_response(Unprocessable(detail, invalid_params=params), request)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cls = _BY_STATUS.get(exc.status_code, Problem)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow"))
    problem = cls(detail, headers=headers)
    if cls is Problem:
        body = problem.body(getattr(request.state, "request_id", None), request.url.path)
        body["status"] = exc.status_code
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE)
    return problem_response(problem, request)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


def _allowed_methods(request: Request, first: str | None) -> str:
    """Every method the service documents at this path. Starlette's 405 names only the first route that
    matched the path (`first`), but RFC 9110 wants them all in `Allow`; the OpenAPI document is the
    public list of the rest."""
    app = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (compile_path(path)[0], {m.upper() for m in item} & _METHODS)
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.allow_table = table
    methods = {m.strip() for m in (first or "").split(",") if m.strip()}
    for pattern, documented in table:
        if pattern.match(request.url.path):
            methods |= documented
    return ", ".join(sorted(methods))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The route template, never the raw path: a path can carry a person's identifier.
    log.exception("unhandled_error", route=route_template(request.scope))
    return problem_response(InternalError("An unexpected error occurred; quote the request id."), request)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error, including FastAPI's own, `application/problem+json`."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, unexpected_error)


PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries that document problem+json bodies for these statuses."""
    return {
        status: {"description": _BY_STATUS.get(status, Problem).title, "content": PROBLEM_CONTENT}
        for status in statuses
    }
