"""The parts of a service's OpenAPI document FastAPI cannot derive, derived from the code that does the work.

A generator (openapi-python-client, openapi-generator) and Swagger UI use the document as it is, so:

- `components.securitySchemes` holds identity's OAuth2 flows (client credentials, authorisation code) with
  the scopes this service's operations ask for, and a plain bearer scheme; each operation's `security`
  names the scopes its dependencies enforce (kit.auth `requires`), so the two cannot drift.
- Request headers a dependency reads itself (`Idempotency-Key`) are declared where the dependency is used
  (`reads_headers`); response headers (`ETag`, `Location`, `Feed-Cursor`) where a route sends them
  (`sends`), and `Retry-After` on every 503 and 429.
- An optional parameter is its plain type: absent is its null, so no `string | null`.
- An operation's id is its handler's name, so a generated client reads `verify_claim(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from fastapi import routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import _get_api_route_for_openapi

from kit.auth import ScopeAlternatives, required_scopes
from kit.idempotency import HEADER as IDEMPOTENCY_HEADER
from kit.idempotency import MAX_KEY_LENGTH
from kit.problems import PROBLEM_CONTENT

OAUTH2 = "oauth2"
BEARER = "bearer"
_REQUEST_HEADERS = "__effekt_request_headers__"

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "A key you choose per intended write: resending it replays the first response instead of "
    "writing twice. The same key with another body is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}

RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The version read or written, `"<version>"`: send it back as `If-Match` to change it.',
        "schema": {"type": "string"},
    },
    "Location": {"description": "The URL of the resource created.", "schema": {"type": "string"}},
    "Feed-Cursor": {
        "description": "Where this page ends: send it as `after` to read the next one.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
}


def reads_headers(*parameters: dict[str, Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a dependency that reads `parameters` (OpenAPI header parameters) from the request itself."""

    def mark(dependency: Callable[..., Any]) -> Callable[..., Any]:
        setattr(dependency, _REQUEST_HEADERS, (*getattr(dependency, _REQUEST_HEADERS, ()), *parameters))
        return dependency

    return mark


def sends(status: int, *names: str, description: str | None = None) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` entry: the response `status` carries headers `names`."""
    entry: dict[str, Any] = {"headers": {name: RESPONSE_HEADERS[name] for name in names}}
    if description is not None:
        entry["description"] = description
    return {status: entry}


class _Route(Protocol):
    dependant: Dependant


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependants(sub)


def operation_scopes(route: _Route) -> ScopeAlternatives | None:
    """The scope sets, any one of which the route's dependencies accept; None for a public route."""
    found: ScopeAlternatives | None = None
    for sub in _dependants(route.dependant):
        alternatives = required_scopes(sub.call)
        if alternatives is None:
            continue
        # Both dependencies must pass: every pairing of their alternatives.
        found = alternatives if found is None else tuple({a | b for a in found for b in alternatives})
    if found is None:
        return None
    return tuple(sorted(set(found), key=lambda s: (len(s), sorted(s))))


def _request_headers(route: _Route) -> list[dict[str, Any]]:
    headers: dict[str, dict[str, Any]] = {}
    for sub in _dependants(route.dependant):
        for parameter in getattr(sub.call, _REQUEST_HEADERS, ()):
            headers[parameter["name"]] = parameter
    return list(headers.values())


def _plain_optional(parameter: dict[str, Any]) -> None:
    """`anyOf: [X, {type: null}]` becomes X: a parameter left out is how a client says "none"."""
    schema = parameter.get("schema", {})
    options = schema.get("anyOf")
    if parameter.get("required") or not isinstance(options, list):
        return
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) == 1 and len(kept) < len(options):
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        parameter["schema"] = {**kept[0], **rest}


def _operation_id(name: str, method: str, taken: set[str]) -> str:
    """The handler's name (`verify_claim`), what a generated client's method is called; FastAPI's default
    appends the path and method (`verify_claim_v1_outcome_claims_claim_id_verification_post`). A handler
    serving several methods or paths gets the method, then a number."""
    candidates = [name, f"{name}_{method.lower()}", *(f"{name}_{method.lower()}_{n}" for n in range(2, 100))]
    chosen = next(c for c in candidates if c not in taken)
    taken.add(chosen)
    return chosen


def security_schemes(*, issuer: str, scopes: set[str]) -> dict[str, Any]:
    issuer = issuer.rstrip("/")
    described = {s: f"See docs/identity.md: scope `{s}`." for s in sorted(scopes)}
    return {
        OAUTH2: {
            "type": "oauth2",
            "description": "Tokens from Effekt identity: machines use client credentials, people sign in "
            "with the authorisation code flow (PKCE, S256).",
            "flows": {
                "clientCredentials": {"tokenUrl": f"{issuer}/oauth2/token", "scopes": described},
                "authorizationCode": {
                    "authorizationUrl": f"{issuer}/oauth2/authorize",
                    "tokenUrl": f"{issuer}/oauth2/token",
                    "refreshUrl": f"{issuer}/oauth2/token",
                    "scopes": described,
                },
            },
        },
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token identity issued, however you obtained it.",
        },
    }


def complete(document: dict[str, Any], routes: list[Any], *, issuer: str) -> None:
    """Add security, declared headers and plain optional parameters to FastAPI's `document`, in place."""
    used: set[str] = set()
    operation_ids: set[str] = set()
    # FastAPI (0.165) nests included routers; its own document walks them so, and so does this one.
    for context in routing.iter_route_contexts(routes):
        route = _get_api_route_for_openapi(context)
        if route is None or not route.include_in_schema:
            continue
        path = document.get("paths", {}).get(route.path_format, {})
        scopes = operation_scopes(route)
        headers = _request_headers(route)
        for method in sorted(route.methods):
            operation = path.get(method.lower())
            if operation is None:
                continue
            operation["operationId"] = _operation_id(route.name, method, operation_ids)
            if scopes is not None:
                operation["security"] = [
                    {scheme: sorted(alternative)} for alternative in scopes for scheme in (OAUTH2, BEARER)
                ]
                used.update(*scopes)
            parameters = operation.setdefault("parameters", [])
            names = {(p["name"].lower(), p["in"]) for p in parameters}
            parameters.extend(h for h in headers if (h["name"].lower(), "header") not in names)
            if not parameters:
                del operation["parameters"]
            for parameter in parameters:
                _plain_optional(parameter)
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "503",
                {
                    "description": "Briefly unavailable; try again after `Retry-After`",
                    "content": PROBLEM_CONTENT,
                },
            )
            for status in ("429", "503"):
                if status in responses:
                    responses[status].setdefault("headers", {})["Retry-After"] = RESPONSE_HEADERS[
                        "Retry-After"
                    ]
    document.setdefault("components", {})["securitySchemes"] = security_schemes(issuer=issuer, scopes=used)
