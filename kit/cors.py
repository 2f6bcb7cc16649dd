"""Cross-origin access for partner UIs: which web origins may call a process from a browser.

An origin is allowed when it is the origin of a redirect URI some enabled OAuth client registered (a
partner UI that can sign in may call the platform) or is listed in the deployment's `*_CORS_ORIGINS`.
The registered origins come from `source` (identity reads its own table; every other process fetches
identity's `GET /v1/cors-origins`). The first cross-origin request after `refresh_seconds` starts a
re-read beside itself (a known origin never waits, not even for an identity that does not answer); an
unknown origin waits for one at once, at most once per `miss_seconds` (a client registered a moment ago
works at once, and a foreign origin knocking costs identity one read per interval at most). When the
source fails the last set stays. No poller: a process no browser calls never asks.

Only the paths a service lists answer CORS at all (identity's token endpoint, not its admin API's form
posts, say). Tokens travel in the `Authorization` header, never in cookies, so no response ever allows
credentials: not for an exact origin, and never with `*` (which a deployment may list to open a path to
every origin, without credentials).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpx
import structlog
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from kit.settings import AppSettings

log = structlog.get_logger(__name__)

OriginSource = Callable[[], Awaitable[Iterable[str]]]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "traceparent")
EXPOSED_HEADERS = ("Location", "ETag", "Link", "Retry-After", "X-Request-ID")


def origin_of(uri: str) -> str | None:
    """A web origin (`scheme://host[:port]`, as browsers send it) for an http(s) URI, else None."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"


class AllowedOrigins:
    """The configured origins and the registered ones, as one set the middleware asks."""

    def __init__(
        self,
        configured: Iterable[str] = (),
        source: OriginSource | None = None,
        *,
        refresh_seconds: float = 30.0,
        miss_seconds: float = 1.0,
    ) -> None:
        self.configured = frozenset(o.rstrip("/") for o in configured)
        self.any = "*" in self.configured
        self._source = source
        self._registered: frozenset[str] = frozenset()
        self._refresh_seconds = refresh_seconds
        self._miss_seconds = miss_seconds
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    def allows(self, origin: str) -> bool:
        return self.any or origin in self.configured or origin in self._registered

    async def check(self, origin: str) -> bool:
        """`allows`, after one refresh when the origin is unknown and the last fetch is not recent."""
        age = time.monotonic() - self._fetched_at
        if not self.allows(origin) and age >= self._miss_seconds:
            await self.refresh()
        elif age >= self._refresh_seconds and self._source is not None and self._refreshing is None:
            # A known origin never waits for the re-read (nor for an identity that does not answer).
            self._refreshing = asyncio.create_task(self.refresh(), name="cors-origins")
            self._refreshing.add_done_callback(self._refreshed)
        return self.allows(origin)

    def _refreshed(self, _: asyncio.Task[None]) -> None:
        self._refreshing = None

    async def settled(self) -> None:
        """Wait for a re-read started in the background (the tests use it)."""
        if self._refreshing is not None:
            await self._refreshing

    async def refresh(self) -> None:
        if self._source is None:
            return
        async with self._lock:
            if time.monotonic() - self._fetched_at < self._miss_seconds:
                return  # another request refreshed while this one waited
            self._fetched_at = time.monotonic()
            try:
                self._registered = frozenset(await self._source())
            except Exception as exc:  # any failure keeps the last set; the cause is logged
                log.warning("cors.origins_unavailable", error=str(exc))


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS rules, over a set that changes, on the listed paths only (a path ending in `/` is
    a prefix, any other is exact)."""

    def __init__(self, app: ASGIApp, *, origins: AllowedOrigins, paths: Iterable[str]) -> None:
        super().__init__(
            app,
            allow_origins=["*"] if origins.any else [],
            allow_methods=METHODS,
            allow_headers=REQUEST_HEADERS,
            allow_credentials=False,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
        self.origins = origins
        self.paths = tuple(paths)

    def _covers(self, path: str) -> bool:
        return any(path.startswith(p) if p.endswith("/") else path == p for p in self.paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        if origin is not None:
            await self.origins.check(origin)
        await super().__call__(scope, receive, send)

    def is_allowed_origin(self, origin: str) -> bool:
        return self.origins.allows(origin)


def identity_origins(url: str, *, timeout: float = 5.0) -> OriginSource:
    """The registered origins from identity's `GET /v1/cors-origins` (for every process but identity)."""

    async def fetch() -> list[str]:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.get(url)
            response.raise_for_status()
            return [str(origin) for origin in response.json()["origins"]]

    return fetch


def install_cors(app: FastAPI, settings: AppSettings, paths: Iterable[str], source: OriginSource) -> None:
    """Answer CORS on `paths`; the set is `app.state.cors_origins` (tests and identity's routes read it)."""
    origins = AllowedOrigins(settings.cors_origins, source, refresh_seconds=settings.cors_refresh_seconds)
    app.state.cors_origins = origins
    app.add_middleware(CorsMiddleware, origins=origins, paths=tuple(paths))
