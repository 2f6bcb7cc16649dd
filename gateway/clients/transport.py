"""The one place the gateway talks HTTP: the caller's token forwarded, JSON in and out, no strawberry.

`ServiceClient` holds one shared pooled aiohttp session, a timeout per call, one retry when the connection
drops (for reads, and for writes carrying an Idempotency-Key), and turns every problem+json answer into a
`DomainError` carrying the service's `code`, so a resolver can return it as a typed error result. It reads
answers into typed rows (`Row` models: tolerant readers of just the fields the gateway uses); the typed
clients beside it name each endpoint.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict

from gateway.hardening import DomainError
from kit.pagination import Page

READ_RETRIES = 1
# The largest page every service accepts (kit.pagination.MAX_LIMIT).
MAX_PAGE = 500
# Batch sizes the services accept for `ids=` (contracts: 100; identity and outcomes: 500).
BATCH = {"identity": 500, "contracts": 100, "outcomes": 500}


class Row(BaseModel):
    """A service's answer as the gateway reads it: the fields it uses, anything else ignored."""

    model_config = ConfigDict(extra="ignore")


class IdRow(Row):
    id: UUID


R = TypeVar("R", bound=Row)
B = TypeVar("B", bound=IdRow)


class ServiceUnavailable(DomainError):
    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service is unavailable", code="service-unavailable", service=service)


class ServiceClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        http: aiohttp.ClientSession,
        token: str,
        calls: Counter[str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.calls: Counter[str] = calls if calls is not None else Counter()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        self.calls[self.name] += 1  # one per read asked for: a retry on a dropped connection is not a call
        for attempt in range(READ_RETRIES + 1):
            try:
                return await self._request("GET", path, params=params)
            except (TimeoutError, aiohttp.ClientConnectionError):
                if attempt == READ_RETRIES:
                    raise ServiceUnavailable(self.name) from None
        raise AssertionError("unreachable")

    async def etag(self, path: str) -> str | None:
        """The ETag a read of `path` carries (for writes that need `If-Match`)."""
        self.calls[self.name] += 1
        try:
            async with self.http.get(self.base_url + path, headers=self.headers) as response:
                payload = await response.read()
                if response.status >= 400:
                    raise _problem(self.name, response.status, payload)
                return response.headers.get("ETag")
        except (TimeoutError, aiohttp.ClientConnectionError):
            raise ServiceUnavailable(self.name) from None

    async def read(self, model: type[R], path: str, params: Mapping[str, str] | None = None) -> R:
        """One row."""
        return model.model_validate(await self.get(path, params))

    async def page(self, model: type[R], path: str, params: Mapping[str, str] | None = None) -> Page[R]:
        """One page of a `Page[T]` listing."""
        return _page(model, await self.get(path, params))

    async def every(
        self, model: type[R], path: str, params: Mapping[str, str] | None = None, *, limit: int = MAX_PAGE
    ) -> list[R]:
        """Every item of a `Page[T]` listing, following `next_cursor` (one call per page)."""
        return [row async for row in self._pages(model, path, params, limit=limit)]

    async def batch(self, model: type[B], path: str, ids: Sequence[UUID]) -> dict[UUID, B]:
        """The rows of `ids` the caller may see, by id, through `GET path?ids=`, chunked to the service's
        batch limit. An id missing from the answer is one the caller may not see (or that does not exist)."""
        size = BATCH[self.name]
        found: dict[UUID, B] = {}
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            page = await self.page(
                model, path, {"ids": ",".join(str(k) for k in chunk), "limit": str(len(chunk))}
            )
            found.update({row.id: row for row in page.items})
        return found

    async def _pages(
        self, model: type[R], path: str, params: Mapping[str, str] | None, *, limit: int
    ) -> AsyncIterator[R]:
        query = {**(params or {}), "limit": str(limit)}
        while True:
            page = await self.page(model, path, query)
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            query["cursor"] = page.next_cursor

    async def send(
        self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> Any:
        """A write, retried once on a dropped connection only when it carries an Idempotency-Key (the
        service then replays its first answer rather than writing twice). A timeout is never retried."""
        self.calls[self.name] += 1
        retries = READ_RETRIES if headers and "Idempotency-Key" in headers else 0
        for attempt in range(retries + 1):
            try:
                return await self._request(method, path, body=body, headers=headers)
            except TimeoutError:  # first: aiohttp's ServerTimeoutError is a connection error too
                raise ServiceUnavailable(self.name) from None
            except aiohttp.ClientConnectionError:
                if attempt == retries:
                    raise ServiceUnavailable(self.name) from None
        raise AssertionError("unreachable")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        request_headers = {**self.headers, **(headers or {})}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            request_headers["Content-Type"] = "application/json"
        async with self.http.request(
            method, self.base_url + path, params=params, data=data, headers=request_headers
        ) as response:
            payload = await response.read()
            if response.status >= 400:
                raise _problem(self.name, response.status, payload)
            if response.status == 204 or not payload:
                return None
            return orjson.loads(payload)


def _problem(service: str, status: int, payload: bytes) -> DomainError:
    try:
        problem = orjson.loads(payload)
    except orjson.JSONDecodeError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    if status >= 500:
        return ServiceUnavailable(service)
    extras: dict[str, Any] = {"status": status}
    if isinstance(problem.get("invalid_params"), list):
        extras["invalid_params"] = problem["invalid_params"]
    return DomainError(
        str(problem.get("detail") or problem.get("title") or f"{service} answered {status}"),
        code=str(problem.get("code") or f"http-{status}"),
        **extras,
    )


def _page(model: type[R], answer: Any) -> Page[R]:
    return Page(
        items=[model.model_validate(item) for item in answer.get("items") or ()],
        next_cursor=answer.get("next_cursor"),
    )


def write_headers(idempotency_key: str | None, expected_version: int | None = None) -> dict[str, str]:
    """Every write carries an Idempotency-Key (the caller's, so its retries replay; else a fresh one)."""
    headers = {"Idempotency-Key": idempotency_key or secrets.token_urlsafe(16)}
    if expected_version is not None:
        headers["If-Match"] = f'"{expected_version}"'
    return headers


def if_match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields given, leaving out those that are None (the service's defaults apply)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        out[key] = (
            value.isoformat() if isinstance(value, date) else str(value) if isinstance(value, UUID) else value
        )
    return out
