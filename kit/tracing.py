"""OpenTelemetry tracing: W3C `traceparent` in, a server span per request, `traceparent` out.

Inbound, a pure ASGI middleware continues the caller's trace (or starts one), names the span after the
route template and binds `trace_id`/`span_id` into the log context, so every log line of the request can
be joined with the caller's. Outbound, `aiohttp_trace_config()` opens a client span per call and injects
`traceparent` (and the request id) into the headers. Spans leave the process only when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set and the OTLP exporter package is installed; sampling follows the
standard `OTEL_TRACES_SAMPLER*` variables (default: always, or as the caller decided).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import aiohttp
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.http import REQUEST_ID_HEADER
from kit.metrics import UNMATCHED_ROUTE, route_template

PROPAGATOR = TraceContextTextMapPropagator()
log = structlog.get_logger("effekt.tracing")


def create_tracer_provider(service_name: str) -> TracerProvider:
    """A provider for one process; exports over OTLP only when configured to (see the module docstring)."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"effekt-{service_name}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            module = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is not installed")
        else:
            provider.add_span_processor(BatchSpanProcessor(module.OTLPSpanExporter()))
    return provider


class _AsgiHeaders:
    """The propagator's getter over ASGI's raw header list."""

    @staticmethod
    def get(carrier: Iterable[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k == wanted]
        return values or None

    @staticmethod
    def keys(carrier: Iterable[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


class TracingMiddleware:
    """Continue or start a trace per HTTP request. Must run inside `RequestIdMiddleware`, which clears
    the log context, so that `trace_id` is bound after the clear."""

    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = PROPAGATOR.extract(scope.get("headers", []), getter=_AsgiHeaders)  # type: ignore[arg-type]
        method = scope["method"]
        span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        span_context = span.get_span_context()
        structlog.contextvars.bind_contextvars(
            trace_id=format(span_context.trace_id, "032x"), span_id=format(span_context.span_id, "016x")
        )
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send_and_record)
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            otel_context.detach(token)
            route = route_template(scope)
            if route != UNMATCHED_ROUTE:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()


def aiohttp_trace_config(tracer: trace.Tracer) -> aiohttp.TraceConfig:
    """Client spans for an `aiohttp.ClientSession`, with `traceparent` and the request id injected."""

    async def on_start(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        span = tracer.start_span(f"{params.method}", kind=SpanKind.CLIENT)
        span.set_attribute("http.request.method", params.method)
        span.set_attribute("server.address", params.url.host or "")
        ctx.span = span
        PROPAGATOR.inject(params.headers, context=trace.set_span_in_context(span))
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id and REQUEST_ID_HEADER not in params.headers:
            params.headers[REQUEST_ID_HEADER] = request_id

    async def on_end(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        span = getattr(ctx, "span", None)
        if span is not None:
            span.set_attribute("http.response.status_code", params.response.status)
            if params.response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()

    async def on_error(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        span = getattr(ctx, "span", None)
        if span is not None:
            span.record_exception(params.exception)
            span.set_status(Status(StatusCode.ERROR))
            span.end()

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_error)
    return config


def install_tracing(app: Any, service_name: str) -> TracerProvider:
    """Give an app a tracer provider (`app.state.tracer_provider`) and the inbound middleware.

    Add it *before* `RequestIdMiddleware` (Starlette runs the last added middleware outermost)."""
    provider = create_tracer_provider(service_name)
    app.state.tracer_provider = provider
    app.add_middleware(TracingMiddleware, tracer=provider.get_tracer("effekt"))
    return provider
