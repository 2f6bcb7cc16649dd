"""Plain HTTP clients for the three services: the caller's token forwarded, JSON in and out, no strawberry.

`ServiceClient` is the one place that talks HTTP: one shared pooled aiohttp session, a timeout per call,
one retry when the connection drops (for reads, and for writes carrying an Idempotency-Key), and every
problem+json answer turned into a `DomainError` carrying the service's `code`, so a resolver can return it
as a typed error result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from gateway.hardening import DomainError

READ_RETRIES = 1
# The largest page every service accepts (kit.pagination.MAX_LIMIT) and batch sizes per service.
MAX_PAGE = 500


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

    async def pages(
        self, path: str, params: Mapping[str, str] | None = None, *, limit: int = MAX_PAGE
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a `Page[T]` listing, following `next_cursor` (one call per page)."""
        query = {**(params or {}), "limit": str(limit)}
        while True:
            page = await self.get(path, query)
            for item in page.get("items") or ():
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

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


@dataclass
class Services:
    """One request's clients, all forwarding the caller's token and sharing one call counter."""

    identity: ServiceClient
    contracts: ServiceClient
    outcomes: ServiceClient
    calls: Counter[str] = field(default_factory=Counter)

    @classmethod
    def for_token(cls, urls: Mapping[str, str], http: aiohttp.ClientSession, token: str) -> Services:
        calls: Counter[str] = Counter()
        return cls(
            identity=ServiceClient("identity", urls["identity"], http, token, calls),
            contracts=ServiceClient("contracts", urls["contracts"], http, token, calls),
            outcomes=ServiceClient("outcomes", urls["outcomes"], http, token, calls),
            calls=calls,
        )


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
