"""kit.metrics in-process: labels by route template, counts failures as 500s, runs samplers at scrape."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI
from prometheus_client import Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kit.metrics import Metrics, install_metrics


def _app() -> tuple[FastAPI, Metrics]:
    app = FastAPI()
    metrics = install_metrics(app)

    @app.get("/v1/things/{thing_id}")
    async def read_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    return app, metrics


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return {
        tuple(sorted(s.labels.items())): s.value for s in families[name].samples if s.name.endswith("_count")
    }


async def test_requests_are_counted_by_route_template_method_and_status() -> None:
    app, _ = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for thing in ("a1", "b2", "c3"):
            assert (await client.get(f"/v1/things/{thing}")).status_code == 200
        assert (await client.get("/v1/nothing-here")).status_code == 404
        body = (await client.get("/metrics")).text
    counts = _samples(body, "effekt_http_request_duration_seconds")
    assert counts[(("method", "GET"), ("route", "/v1/things/{thing_id}"), ("status", "200"))] == 3
    assert counts[(("method", "GET"), ("route", "<unmatched>"), ("status", "404"))] == 1
    assert "a1" not in body


async def test_an_unhandled_exception_is_counted_as_a_500() -> None:
    app, _ = _app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/v1/broken")).status_code == 500
        body = (await client.get("/metrics")).text
    counts = _samples(body, "effekt_http_request_duration_seconds")
    assert counts[(("method", "GET"), ("route", "/v1/broken"), ("status", "500"))] == 1


async def test_samplers_refresh_gauges_before_each_scrape_and_a_failing_one_does_not_break_it() -> None:
    app, metrics = _app()
    backlog = iter([7, 3])
    # A service registers its own gauges on the app's registry (the outcome service does these two).
    webhook_backlog = Gauge("effekt_webhook_backlog", "Due deliveries.", registry=metrics.registry)
    feed_lag = Gauge("effekt_feed_lag_seconds", "Feed lag.", ("feed",), registry=metrics.registry)

    async def refresh_backlog() -> None:
        webhook_backlog.set(next(backlog))

    async def broken_sampler() -> None:
        raise ConnectionError("database away")

    metrics.add_sampler(refresh_backlog)
    metrics.add_sampler(broken_sampler)
    feed_lag.labels(feed="outcomes").set(1.5)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        first = (await client.get("/metrics")).text
        second = (await client.get("/metrics")).text
    assert "effekt_webhook_backlog 7.0" in first
    assert "effekt_webhook_backlog 3.0" in second
    assert 'effekt_feed_lag_seconds{feed="outcomes"} 1.5' in second


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.observe_request("GET", "/x", 200, 0.01)
    assert b"/x" in generate_latest(first.registry)
    assert b"/x" not in generate_latest(second.registry)


def test_metrics_are_not_in_the_openapi_document() -> None:
    app, _ = _app()
    assert "/metrics" not in app.openapi()["paths"]


async def test_routes_of_an_included_router_are_labelled_with_their_full_template() -> None:
    app, _ = _app()
    router = APIRouter()

    @router.get("")
    async def root() -> dict[str, str]:
        return {}

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    app.include_router(router, prefix="/graphql")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/graphql")
        await client.get("/graphql/items/9")
        body = (await client.get("/metrics")).text
    routes = {labels[1][1] for labels in _samples(body, "effekt_http_request_duration_seconds")}
    assert {"/graphql", "/graphql/items/{item_id}"} <= routes


async def test_unknown_methods_share_one_label_so_clients_cannot_mint_series() -> None:
    app, _ = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for method in ("BREW", "FROB", "X-EVIL-1"):
            await client.request(method, "/v1/things/1")
        body = (await client.get("/metrics")).text
    methods = {dict(labels)["method"] for labels in _samples(body, "effekt_http_request_duration_seconds")}
    assert methods == {"OTHER"}  # the scrape itself is counted after it renders
