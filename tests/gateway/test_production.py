"""Production behaviour: no introspection, unexpected errors masked (with a code to quote), and only
trusted documents run, over HTTP and over WebSocket alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvicorn
import websockets

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.http import new_client
from effekt.sandbox.platform import free_port
from gateway.app import create_app
from gateway.hardening import document_id
from gateway.schema import build_schema
from gateway.settings import Settings
from tests.gateway.support import gid


async def test_introspection_is_off_in_production() -> None:
    schema = build_schema("provider", production=True)
    result = await schema.execute("{ __schema { types { name } } }", context_value=SimpleNamespace())
    assert result.errors
    assert "introspection" in result.errors[0].message.lower()


async def test_an_unexpected_error_is_masked_in_production_and_keeps_a_code() -> None:
    schema = build_schema("provider", production=True)
    # A context without a principal makes `me` fail the way a bug would.
    result = await schema.execute("{ me { subject } }", context_value=SimpleNamespace())
    assert result.errors
    error = result.errors[0]
    assert error.message == "Unexpected error; quote the request id."
    assert error.extensions == {"code": "internal-error"}
    assert "principal" not in str(error.formatted)


TRUSTED = "query Me { me { partnerType } }"
SUBSCRIPTION = "subscription($id: ID!) { ledgerEvents(partnershipId: $id) { sequence } }"


@pytest.fixture(scope="module")
def trusted_cast(shared_cast: Cast) -> Cast:
    return shared_cast


@pytest.fixture
async def trusted_only(platform: Platform, tmp_path: Path) -> AsyncIterator[str]:
    """A gateway of its own (in this process, on a free port) that runs only one trusted document."""
    documents = tmp_path / "trusted.json"
    documents.write_text(json.dumps({document_id(TRUSTED): TRUSTED}))
    settings = Settings(
        environment="test",
        issuer=platform.env["GATEWAY_ISSUER"],
        jwks_url=platform.env["GATEWAY_JWKS_URL"],
        identity_url=platform.url("identity"),
        contracts_url=platform.url("contracts"),
        outcomes_url=platform.url("outcomes"),
        trusted_documents_path=documents,
        trusted_documents_only=True,
        log_json=False,
        log_level="WARNING",
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server offers a flag, not an event
        await asyncio.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_only_trusted_documents_run_over_http(trusted_only: str, trusted_cast: Cast) -> None:
    headers = {**trusted_cast.evaluator.headers, "Accept": "application/graphql-response+json"}
    async with new_client(base_url=f"http://{trusted_only}", timeout=30) as client:
        refused = await client.post("/graphql", json={"query": "{ me { subject } }"}, headers=headers)
        assert refused.status_code == 400
        by_id = await client.post(
            "/graphql", json={"extensions": {"documentId": document_id(TRUSTED)}}, headers=headers
        )
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["data"] == {"me": {"partnerType": "EVALUATOR"}}


async def test_only_trusted_documents_run_over_websocket(trusted_only: str, trusted_cast: Cast) -> None:
    url = f"ws://{trusted_only}/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"Authorization": f"Bearer {trusted_cast.provider.token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
        payload = {
            "query": SUBSCRIPTION,
            "variables": {"id": gid("Partnership", trusted_cast.partnership_id)},
        }
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert refused["type"] == "error", refused
    assert refused["payload"][0]["extensions"]["code"] == "untrusted-document"
