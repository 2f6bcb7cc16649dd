"""Plain HTTP clients for the three services: the caller's token forwarded, JSON in and out, no strawberry.

`ServiceClient` is the one place that talks HTTP: one shared pooled aiohttp session, a timeout per call,
one retry for idempotent reads when the connection fails, and every problem+json answer turned into a
`DomainError` carrying the service's `code`, so a resolver can return it as a typed error result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from gateway.hardening import DomainError

READ_RETRIES = 1


class ServiceUnavailable(DomainError):
    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service is unavailable", code="service-unavailable", service=service)


class ServiceClient:
    def __init__(self, name: str, base_url: str, http: aiohttp.ClientSession, token: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        for attempt in range(READ_RETRIES + 1):
            try:
                return await self._request("GET", path, params=params)
            except (TimeoutError, aiohttp.ClientConnectionError):
                if attempt == READ_RETRIES:
                    raise ServiceUnavailable(self.name) from None
        raise AssertionError("unreachable")

    async def send(
        self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> Any:
        """A write: never retried here (the caller passes an Idempotency-Key if it wants safe retries)."""
        try:
            return await self._request(method, path, body=body, headers=headers)
        except (TimeoutError, aiohttp.ClientConnectionError):
            raise ServiceUnavailable(self.name) from None

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
    extras = {k: problem[k] for k in ("invalid_params", "status") if k in problem}
    return DomainError(
        str(problem.get("detail") or problem.get("title") or f"{service} answered {status}"),
        code=str(problem.get("code") or f"http-{status}"),
        **extras,
    )
