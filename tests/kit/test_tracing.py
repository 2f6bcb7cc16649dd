"""kit.tracing in-process: W3C trace context in, spans named by route, trace ids in the log context, and
`traceparent` injected into outbound aiohttp calls."""

from __future__ import annotations

import re
import secrets
from typing import Any

import aiohttp
import httpx
import pytest
import structlog
from aiohttp import web
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

from effekt.sandbox.platform import free_port
from kit.http import RequestIdMiddleware
from kit.tracing import aiohttp_trace_config, install_tracing, parse_traceparent


def _app(*, recording: bool = True) -> tuple[FastAPI, InMemorySpanExporter, list[dict[str, Any]]]:
    app = FastAPI()
    exporter = InMemorySpanExporter()
    if recording:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        install_tracing(app, "test", provider=provider)
    else:
        install_tracing(app, "test")  # no exporter configured: ids are propagated, nothing is recorded
    app.add_middleware(RequestIdMiddleware)
    seen: list[dict[str, Any]] = []

    @app.get("/v1/things/{thing_id}")
    async def read_thing(thing_id: str) -> dict[str, str]:
        seen.append(dict(structlog.contextvars.get_contextvars()))
        return {"id": thing_id}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    return app, exporter, seen


async def test_a_callers_traceparent_is_continued_and_bound_into_the_log_context() -> None:
    app, exporter, seen = _app()
    trace_id, parent_span = secrets.token_hex(16), secrets.token_hex(8)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get(
            "/v1/things/abc",
            headers={"traceparent": f"00-{trace_id}-{parent_span}-01", "X-Request-ID": "req-tracing-1"},
        )
    assert response.status_code == 200
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /v1/things/{thing_id}"
    assert span.kind == SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_span
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert seen == [
        {"request_id": "req-tracing-1", "trace_id": trace_id, "span_id": format(span.context.span_id, "016x")}
    ]


async def test_without_a_traceparent_each_request_starts_its_own_trace() -> None:
    app, exporter, seen = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/v1/things/a")
        await client.get("/v1/things/b")
    first, second = exporter.get_finished_spans()
    assert first.parent is None
    assert first.context.trace_id != second.context.trace_id
    assert [s["trace_id"] for s in seen] == [format(s.context.trace_id, "032x") for s in (first, second)]


async def test_a_failing_request_ends_its_span_as_an_error() -> None:
    app, exporter, _ = _app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/v1/broken")).status_code == 500
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.events[0].name == "exception"


async def test_outbound_aiohttp_calls_carry_the_current_trace_and_request_id() -> None:
    received: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        received.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response({"status": "ok"})

    server = web.Application()
    server.router.add_get("/healthz", handler)
    runner = web.AppRunner(server)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    try:
        async with aiohttp.ClientSession(trace_configs=[aiohttp_trace_config(tracer)]) as http:
            structlog.contextvars.bind_contextvars(request_id="req-outbound-1")
            with tracer.start_as_current_span("inbound") as inbound:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    assert response.status == 200
            structlog.contextvars.clear_contextvars()
    finally:
        await runner.cleanup()
    (headers,) = received
    client_span = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT)
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 0x01  # sampled
    assert int(trace_id, 16) == inbound.get_span_context().trace_id
    assert (
        int(span_id, 16) == client_span.context.span_id
    )  # the service's parent is the call, not the handler
    assert client_span.parent is not None
    assert client_span.parent.span_id == inbound.get_span_context().span_id
    assert headers["x-request-id"] == "req-outbound-1"


async def test_without_an_exporter_the_trace_is_still_continued_and_logged_but_not_recorded() -> None:
    app, exporter, seen = _app(recording=False)
    trace_id, parent_span = secrets.token_hex(16), secrets.token_hex(8)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/v1/things/a", headers={"traceparent": f"00-{trace_id}-{parent_span}-01"})
        await client.get("/v1/things/b")
    assert not exporter.get_finished_spans()
    continued, fresh = seen
    assert continued["trace_id"] == trace_id
    assert continued["span_id"] != parent_span
    assert re.fullmatch(r"[0-9a-f]{16}", continued["span_id"])
    assert fresh["trace_id"] != trace_id
    assert re.fullmatch(r"[0-9a-f]{32}", fresh["trace_id"])


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-not-a-trace-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero parent id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # forbidden version
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # version 00 has four fields
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",  # upper case is invalid
    ],
)
def test_a_malformed_traceparent_is_ignored(traceparent: str) -> None:
    assert parse_traceparent([(b"traceparent", traceparent.encode())]) is None


def test_a_later_version_may_append_fields_and_tracestate_is_kept() -> None:
    parsed = parse_traceparent(
        [
            (b"traceparent", b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-comes-next"),
            (b"tracestate", b"vendor=abc"),
        ]
    )
    assert parsed is not None
    assert parsed.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert parsed.trace_state.to_header() == "vendor=abc"


async def test_without_an_exporter_outbound_calls_still_carry_the_trace() -> None:
    received: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        received.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response({"status": "ok"})

    server = web.Application()
    server.router.add_get("/healthz", handler)
    runner = web.AppRunner(server)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    inbound = NonRecordingSpan(
        SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))
    )
    try:
        async with aiohttp.ClientSession(
            trace_configs=[aiohttp_trace_config(TracerProvider().get_tracer("t"))]
        ) as http:
            with trace.use_span(inbound):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    assert response.status == 200
    finally:
        await runner.cleanup()
    (headers,) = received
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    assert span_id != "b7ad6b7169203331"
