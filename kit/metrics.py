"""Prometheus metrics at `/metrics`: request latency by route template and status, the database pool,
and whatever gauges a service registers on its app's registry (the outcome service: webhook backlog,
feed lag).

Each app owns its registry (no process-global state, so tests can build many apps in one process). The
request middleware is pure ASGI and labels by route *template* (`/v1/contracts/{contract_id}`), never by
raw path, so ids cannot blow up the number of series. Values that cost a query (a backlog count) are not
kept up to date per request: a service registers an async sampler that runs when Prometheus scrapes.

    metrics: Metrics = app.state.metrics
    backlog = Gauge("effekt_webhook_backlog", "...", registry=metrics.registry)   # a service's own gauge
    metrics.add_sampler(refresh_backlog)                  # `async def refresh_backlog() -> None`
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Seconds; dense where an API call should land (5-250 ms), sparse in the tail.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "<unmatched>"
# Anything else a client sends as a method is labelled OTHER: label values must stay a closed set.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Scraped every few seconds by every Prometheus replica: timed, but not worth an access log line each.
QUIET_PATHS = frozenset({"/metrics"})
SAMPLER_TIMEOUT = 2.0

Sampler = Callable[[], Awaitable[None]]


class PooledEngine(Protocol):
    """What the pool gauges read from an engine (SQLAlchemy's `AsyncEngine`); typed structurally so the
    gateway, which must not import a database library, can use this module."""

    @property
    def pool(self) -> Any: ...


access_log = structlog.get_logger("effekt.access")


class Metrics:
    """One app's registry and the metric families every Effekt process exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "effekt_http_request_duration_seconds",
            "Time from request to the end of the response, by method, route template and status.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._samplers: list[Sampler] = []
        self._pool: PoolCollector | None = None
        # Histogram children by label tuple: `labels()` validates and locks on every call.
        self._children: dict[tuple[str, str, str], Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.request_duration.labels(*key)
        child.observe(seconds)

    def observe_pool(self, engine: PooledEngine) -> None:
        """Export the engine's connection pool (read at scrape time; nothing per request)."""
        if self._pool is not None:  # a second lifespan on the same app (tests) replaces the first engine
            self.registry.unregister(self._pool)
        self._pool = PoolCollector(engine)
        self.registry.register(self._pool)

    def add_sampler(self, sampler: Sampler) -> None:
        """Run `sampler` before each scrape, to refresh gauges that cost a query."""
        self._samplers.append(sampler)

    async def render(self) -> bytes:
        if self._samplers:
            results = await asyncio.gather(
                *(asyncio.wait_for(s(), SAMPLER_TIMEOUT) for s in self._samplers), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    access_log.warning("metrics sampler failed", error=type(result).__name__)
        return generate_latest(self.registry)


class PoolCollector(Collector):
    def __init__(self, engine: PooledEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool: Any = self.engine.pool  # QueuePool in production; other pools lack these counters
        in_use = GaugeMetricFamily("effekt_db_pool_in_use", "Connections checked out of the pool.")
        size = GaugeMetricFamily("effekt_db_pool_size", "Connections the pool keeps open (not overflow).")
        if hasattr(pool, "checkedout") and hasattr(pool, "size"):
            in_use.add_metric([], pool.checkedout())
            size.add_metric([], pool.size())
        yield in_use
        yield size

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("effekt_db_pool_in_use", "Connections checked out of the pool.")
        yield GaugeMetricFamily("effekt_db_pool_size", "Connections the pool keeps open (not overflow).")


class MetricsMiddleware:
    """Times every HTTP request, labels it by route template and status, and writes one access log line.

    The log line carries what the context holds (request id, trace id) and the route template, never the
    raw path or query: those can carry identifiers of people.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app raises before it starts a response, the server answers 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            self.metrics.observe_request(method, route, status, elapsed)
            if scope["path"] not in QUIET_PATHS:
                access_log.info(
                    "request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )


def route_template(scope: Scope) -> str:
    """The matched route's full path template, prefixes included, or `<unmatched>`.

    FastAPI ≥ 0.16x keeps included routers whole, so `scope["route"].path` is relative to the router's
    prefix; its effective route context carries the full template. Older FastAPI and plain Starlette
    leave the full template in `scope["route"]`.
    """
    context = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


def install_metrics(app: Starlette) -> Metrics:
    """Give a FastAPI app its registry, the timing middleware and `/metrics`; returns the registry."""
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_route("/metrics", _metrics_route, methods=["GET"], include_in_schema=False)
    return metrics


async def _metrics_route(request: Request) -> Response:
    """`GET /metrics`: no token (it is kept off the Ingress and scraped in-cluster), no OpenAPI entry."""
    metrics: Metrics = request.app.state.metrics
    return Response(
        await metrics.render(), media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"}
    )
