"""Operations in the code, seen from outside the processes: `/metrics` and one trace id across hops."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from effekt.launcher import Platform
from effekt.sandbox.directory import client_credentials_token
from effekt.sandbox.http import new_client
from kit.settings import ServiceSettings

SERVICES = ("identity", "contracts", "outcomes")
EVERY_PROCESS_FAMILIES = {"effekt_http_request_duration_seconds"}
SERVICE_FAMILIES = {"effekt_db_pool_in_use", "effekt_db_pool_size"}
# The outcome service's own gauges (it sends the webhooks and serves the feed).
OUTCOME_FAMILIES = {"effekt_webhook_backlog", "effekt_feed_lag_seconds"}


async def _metrics(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
async def test_metrics_need_no_token_and_expose_the_operational_families(
    platform: Platform, name: str
) -> None:
    async with new_client(base_url=platform.url(name)) as client:
        assert (await client.get("/healthz")).status_code == 200
        families = await _metrics(client)
    expected = EVERY_PROCESS_FAMILIES | (SERVICE_FAMILIES if name in SERVICES else set())
    expected |= OUTCOME_FAMILIES if name == "outcomes" else set()
    assert expected <= families.keys()
    healthz = [
        s
        for s in families["effekt_http_request_duration_seconds"].samples
        if s.name.endswith("_count") and s.labels["route"] == "/healthz"
    ]
    assert healthz, "the request just made is not counted"
    assert healthz[0].labels["status"] == "200"
    assert healthz[0].labels["method"] == "GET"
    assert healthz[0].value >= 1


@pytest.mark.parametrize("name", SERVICES)
async def test_pool_gauges_report_the_configured_pool(platform: Platform, name: str) -> None:
    async with new_client(base_url=platform.url(name)) as client:
        await client.get("/readyz")  # opens at least one pooled connection
        families = await _metrics(client)
    size = families["effekt_db_pool_size"].samples[0].value
    in_use = families["effekt_db_pool_in_use"].samples[0].value
    configured = platform.env.get(f"{name.upper()}_DB_POOL_SIZE")
    assert size == int(configured or ServiceSettings.model_fields["db_pool_size"].default)
    assert 0 <= in_use <= size


async def test_routes_are_labelled_by_template_never_by_raw_path(platform: Platform) -> None:
    raw = f"/v1/no-such-thing/{secrets.token_hex(8)}"
    async with new_client(base_url=platform.url("contracts")) as client:
        assert (await client.get(raw)).status_code == 404
        families = await _metrics(client)
    routes = {s.labels["route"] for s in families["effekt_http_request_duration_seconds"].samples}
    assert "<unmatched>" in routes
    assert not any(raw in route for route in routes)


def _log_lines(log: Path, request_id: str) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if request_id not in line:
            continue
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


async def _wait_for_lines(log: Path, request_id: str, route: str) -> list[dict[str, Any]]:
    """The access line is written just after the response is sent: wait for it (bounded)."""
    for _ in range(100):
        lines = [line for line in _log_lines(log, request_id) if line.get("route") == route]
        if lines:
            return lines
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {route} line for request {request_id} in {log}")


async def test_a_request_through_the_gateway_carries_one_trace_id_into_every_service_log(
    platform: Platform,
) -> None:
    request_id = f"trace-test-{secrets.token_hex(8)}"
    async with new_client(base_url=platform.url("gateway")) as client:
        response = await client.get("/readyz", headers={"X-Request-ID": request_id})
    assert response.status_code == 200, response.text

    gateway_lines = await _wait_for_lines(platform.log_dir / "gateway.log", request_id, "/readyz")
    trace_ids = {line["trace_id"] for line in gateway_lines}
    assert len(trace_ids) == 1
    (trace_id,) = trace_ids
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert int(trace_id, 16) != 0
    for name in SERVICES:
        service_lines = await _wait_for_lines(platform.log_dir / f"{name}.log", request_id, "/healthz")
        assert {line["trace_id"] for line in service_lines} == {trace_id}, name
        assert all(line["request_id"] == request_id for line in service_lines)
        # The service's span is a new one inside the gateway's trace, not a copy of the gateway's span.
        assert {line["span_id"] for line in service_lines}.isdisjoint(
            {line["span_id"] for line in gateway_lines}
        )


async def test_the_gateway_continues_a_callers_w3c_trace(platform: Platform) -> None:
    trace_id = secrets.token_hex(16)
    request_id = f"trace-test-{secrets.token_hex(8)}"
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "X-Request-ID": request_id}
    async with new_client(base_url=platform.url("gateway")) as client:
        assert (await client.get("/readyz", headers=headers)).status_code == 200
    gateway_lines = await _wait_for_lines(platform.log_dir / "gateway.log", request_id, "/readyz")
    assert {line["trace_id"] for line in gateway_lines} == {trace_id}
    outcomes_lines = await _wait_for_lines(platform.log_dir / "outcomes.log", request_id, "/healthz")
    assert {line["trace_id"] for line in outcomes_lines} == {trace_id}


async def test_a_malformed_traceparent_starts_a_fresh_trace(platform: Platform) -> None:
    request_id = f"trace-test-{secrets.token_hex(8)}"
    headers = {"traceparent": "00-not-a-trace-01", "X-Request-ID": request_id}
    async with new_client(base_url=platform.url("contracts")) as client:
        assert (await client.get("/healthz", headers=headers)).status_code == 200
    (line,) = await _wait_for_lines(platform.log_dir / "contracts.log", request_id, "/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"])
    assert int(line["trace_id"], 16) != 0


async def test_an_authenticated_graphql_request_is_logged_under_the_callers_trace(platform: Platform) -> None:
    """`me` resolves from the token alone; the downstream hop is covered by the `/readyz` test above,
    through the same pooled, traced HTTP session every resolver uses."""
    token = await client_credentials_token(
        platform,
        platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"],
        platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET"],
    )
    trace_id = secrets.token_hex(16)
    request_id = f"trace-test-{secrets.token_hex(8)}"
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        "X-Request-ID": request_id,
    }
    async with new_client(base_url=platform.url("gateway")) as client:
        response = await client.post("/graphql", json={"query": "{ me { subject } }"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["me"]["subject"]
    (line,) = await _wait_for_lines(platform.log_dir / "gateway.log", request_id, "/graphql")
    assert line["trace_id"] == trace_id
    assert line["status"] == 200
    assert token["access_token"] not in (platform.log_dir / "gateway.log").read_text()
