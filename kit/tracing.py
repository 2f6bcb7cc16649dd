"""OpenTelemetry tracing: W3C `traceparent` in, a server span per request, `traceparent` out.

Inbound, a pure ASGI middleware continues the caller's trace (or starts one), names the span after the
route template and binds `trace_id`/`span_id` into the log context, so every log line of the request can
be joined with the caller's. Outbound, `aiohttp_trace_config()` opens a client span per call and injects
`traceparent` (and the request id) into the headers.

Spans are recorded by the OpenTelemetry SDK only when something will receive them: when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set and the OTLP exporter package is installed, or when a caller passes
its own provider. Otherwise the ids are still minted and propagated, as non-recording spans of the
OpenTelemetry API, which costs a few microseconds instead of the SDK's tens. Sampling follows the
standard `OTEL_TRACES_SAMPLER*` variables (default: always, or as the caller decided).
"""

from __future__ import annotations

import importlib
import os
import random
import re
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
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.http import REQUEST_ID_HEADER
from kit.metrics import UNMATCHED_ROUTE, route_template

PROPAGATOR = TraceContextTextMapPropagator()
log = structlog.get_logger("effekt.tracing")

# W3C Trace Context, level 1: version-traceid-parentid-flags; later versions may append fields.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def create_tracer_provider(service_name: str) -> tuple[TracerProvider, bool]:
    """A provider for one process, and whether it records (it does only when it has an exporter)."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"effekt-{service_name}"}))
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return provider, False
    try:
        module = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http is not installed"
        )
        return provider, False
    provider.add_span_processor(BatchSpanProcessor(module.OTLPSpanExporter()))
    return provider, True


def parse_traceparent(headers: Iterable[tuple[bytes, bytes]]) -> SpanContext | None:
    """The caller's span context from ASGI headers, or None when absent or malformed (then: a new trace)."""
    traceparent = tracestate = None
    for key, value in headers:
        if key == b"traceparent":
            traceparent = value.decode("latin-1").strip()
        elif key == b"tracestate":
            tracestate = value.decode("latin-1")
    if traceparent is None:
        return None
    match = _TRACEPARENT.match(traceparent)
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or int(trace_id, 16) == 0 or int(span_id, 16) == 0:
        return None
    state = TraceState.from_header([tracestate]) if tracestate else None
    return SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(flags, 16)),
        trace_state=state,
    )


def _child_span(parent: SpanContext | None) -> NonRecordingSpan:
    """A non-recording span: new span id, the parent's trace (or a new one), flags and state."""
    if parent is None:
        return NonRecordingSpan(
            # Trace ids must be unique, not secret: the SDK's own generator uses `random` too.
            SpanContext(random.getrandbits(128) or 1, random.getrandbits(64) or 1, False, _SAMPLED)
        )
    return NonRecordingSpan(
        SpanContext(
            parent.trace_id,
            random.getrandbits(64) or 1,
            False,
            parent.trace_flags,
            parent.trace_state,
        )
    )


def _traceparent(span_context: SpanContext) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"


class TracingMiddleware:
    """Continue or start a trace per HTTP request. Must run inside `RequestIdMiddleware`, which clears
    the log context, so that `trace_id` is bound after the clear."""

    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer, recording: bool) -> None:
        self.app = app
        self.tracer = tracer
        self.recording = recording

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.recording:
            await self._propagate_only(scope, receive, send)
            return
        parent = PROPAGATOR.extract(scope.get("headers", []), getter=_AsgiHeaders)  # type: ignore[arg-type]
        method = scope["method"]
        span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        self._bind(span.get_span_context())
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

    async def _propagate_only(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = _child_span(parse_traceparent(scope.get("headers", ())))
        self._bind(span.get_span_context())
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)

    @staticmethod
    def _bind(span_context: SpanContext) -> None:
        structlog.contextvars.bind_contextvars(
            trace_id=f"{span_context.trace_id:032x}", span_id=f"{span_context.span_id:016x}"
        )


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


def aiohttp_trace_config(tracer: trace.Tracer) -> aiohttp.TraceConfig:
    """Client spans for an `aiohttp.ClientSession`, with `traceparent` and the request id injected.

    The client span records when the request's span does; otherwise it is a non-recording child."""

    async def on_start(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        current = trace.get_current_span()
        if current.is_recording():
            span: trace.Span = tracer.start_span(params.method, kind=SpanKind.CLIENT)
            span.set_attribute("http.request.method", params.method)
            span.set_attribute("server.address", params.url.host or "")
            ctx.span = span
        else:
            parent = current.get_span_context()
            span = _child_span(parent if parent.is_valid else None)
        params.headers["traceparent"] = _traceparent(span.get_span_context())
        trace_state = span.get_span_context().trace_state
        if trace_state:
            params.headers["tracestate"] = trace_state.to_header()
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


def install_tracing(app: Any, service_name: str, *, provider: TracerProvider | None = None) -> TracerProvider:
    """Give an app a tracer provider (`app.state.tracer_provider`) and the inbound middleware.

    A `provider` passed in always records (the caller attached a processor to it). Add this *before*
    `RequestIdMiddleware` (Starlette runs the last added middleware outermost)."""
    if provider is None:
        provider, recording = create_tracer_provider(service_name)
    else:
        recording = True
    app.state.tracer_provider = provider
    app.add_middleware(TracingMiddleware, tracer=provider.get_tracer("effekt"), recording=recording)
    return provider
