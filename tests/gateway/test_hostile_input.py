"""Hostile input gets a clear 4xx, never a 500: JSON nested 100 000 levels deep (the body, its variables, a
GET parameter, a WebSocket message), invalid UTF-8, and messages of the wrong shape. Over HTTP a problem
(`application/problem+json`, with a code); over WebSocket a 4400 close (or the WebSocket protocol's own
1007 for a text frame that is not UTF-8)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from effekt.launcher import Platform
from gateway.input_limits import MAX_JSON_DEPTH
from tests.actors import Cast

WAIT = 30.0
ME = "query Me { me { partnerType } }"
DEEP = 100_000


@pytest.fixture(scope="module")
def hostile_cast(shared_cast: Cast) -> Cast:
    return shared_cast


def _nested(levels: int) -> str:
    """`levels` arrays, one inside the next (`[]` is one level)."""
    return "[" * levels + "]" * levels


def _problem(response: httpx.Response, code: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    assert response.json()["code"] == code, response.text


async def _post(gateway: httpx.AsyncClient, cast: Cast, body: str | bytes) -> httpx.Response:
    headers = {**cast.provider.headers, "Content-Type": "application/json"}
    return await gateway.post("/graphql", content=body, headers=headers)


async def test_a_body_nested_100_000_levels_is_refused_as_too_deep(
    gateway: httpx.AsyncClient, hostile_cast: Cast
) -> None:
    _problem(await _post(gateway, hostile_cast, _nested(DEEP)), "json-too-deep")
    body = f'{{"query": "{ME}", "extensions": {_nested(DEEP)}}}'
    _problem(await _post(gateway, hostile_cast, body), "json-too-deep")


async def test_variables_nested_100_000_levels_are_refused_as_too_deep(
    gateway: httpx.AsyncClient, hostile_cast: Cast
) -> None:
    body = f'{{"query": "{ME}", "variables": {{"v": {_nested(DEEP)}}}}}'
    _problem(await _post(gateway, hostile_cast, body), "json-too-deep")


async def test_the_depth_limit_is_the_documented_one(gateway: httpx.AsyncClient, hostile_cast: Cast) -> None:
    def body(levels: int) -> str:  # the body is one level, variables a second: `levels` in all
        return json.dumps({"query": ME, "variables": {"v": json.loads(_nested(levels - 2))}})

    at_limit = await _post(gateway, hostile_cast, body(MAX_JSON_DEPTH))
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["data"] == {"me": {"partnerType": "PROVIDER"}}
    _problem(await _post(gateway, hostile_cast, body(MAX_JSON_DEPTH + 1)), "json-too-deep")


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "query Me { me { partnerType } }\xff"}',
        b'{"query": "' + "query Me { me { partnerType } } # \u00e6".encode("latin-1") + b'"}',
        b'{"query": "query Me { me { partnerType } }", "variables": {"v": "\xc3\x28"}}',
        b'{"query": "query Me { me { partnerType } }", "variables": {"v": "\\ud800"}}',
        b'{"query": "query Me { me { partnerType } }"',
        b"\xef\xbb\xbf\xff\xfe",
    ],
    ids=["invalid-byte", "latin-1", "bad-sequence", "lone-surrogate", "truncated", "garbage"],
)
async def test_a_body_that_is_not_utf8_json_is_refused_as_malformed(
    gateway: httpx.AsyncClient, hostile_cast: Cast, body: bytes
) -> None:
    _problem(await _post(gateway, hostile_cast, body), "malformed-json")


async def test_a_deeply_nested_document_is_a_request_error(
    gateway: httpx.AsyncClient, hostile_cast: Cast
) -> None:
    query = "query Me { me(x: " + _nested(600) + ") { partnerType } }"
    response = await gateway.post(
        "/graphql",
        json={"query": query},
        headers={**hostile_cast.provider.headers, "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["errors"][0]["message"]


async def test_a_get_query_string_with_invalid_utf8_or_deep_json_is_a_4xx(
    gateway: httpx.AsyncClient, hostile_cast: Cast
) -> None:
    headers = hostile_cast.provider.headers
    for query_string in (
        "query=%FF%FE%FD",
        "query=%7B%20me%20%7B%20partnerType%20%7D%20%7D&variables=%FF%FE",
        "query=%7B%20me%20%7B%20partnerType%20%7D%20%7D&extensions=%C3%28",
        "query=%7B%20me%20%7B%20partnerType%20%7D%20%7D&variables=" + "%5B" * 5000 + "%5D" * 5000,
        "query=%ED%A0%80&operationName=%ED%A0%80",
    ):
        response = await gateway.get(f"/graphql?{query_string}", headers=headers)
        assert 400 <= response.status_code < 500, (query_string[:60], response.status_code, response.text)
    # 10 000 levels: a URL has room for no more (and orjson's own limit is 1024).
    deep = await gateway.get("/graphql", params={"query": ME, "variables": _nested(10_000)}, headers=headers)
    _problem(deep, "json-too-deep")
    invalid = await gateway.get(
        "/graphql", params={"query": ME, "variables": b"\xff".decode("latin-1")}, headers=headers
    )
    _problem(invalid, "malformed-json")


async def test_raw_bytes_that_are_not_utf8_in_the_request_line_are_a_4xx(
    platform: Platform, hostile_cast: Cast
) -> None:
    """Not percent-encoded: bytes a client library would never send, sent on a socket of our own."""
    port = platform.ports["gateway"]
    for target in (
        b"/graphql?query=\xff\xfe%7B",
        b"/graphql?variables=\xc3\x28&query=x",
        b"/graphql\xff?query=x",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET " + target + b" HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n"
            b"Authorization: Bearer " + hostile_cast.provider.token.encode() + b"\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), WAIT)
        writer.close()
        await writer.wait_closed()
        status = int(status_line.split()[1])
        assert 400 <= status < 500, (target, status_line)


@pytest.mark.parametrize(
    "body",
    [
        {"query": ME, "operationName": 42},
        {"query": ME, "operationName": ["Me"]},
        {"query": 42},
        {"query": ME, "variables": ["v"]},
        {"query": ME, "extensions": "documentId"},
        [{"query": ME}, {"query": ME}],
        {"query": ME, "operationName": "Other"},
        {"variables": {}},
        {"extensions": {"documentId": "sha256:" + "0" * 64}},
    ],
    ids=[
        "operation-name-a-number",
        "operation-name-an-array",
        "query-a-number",
        "variables-an-array",
        "extensions-a-string",
        "batch",
        "unknown-operation",
        "no-query",
        "unknown-trusted-document",
    ],
)
async def test_a_request_of_the_wrong_shape_is_refused_as_a_problem(
    gateway: httpx.AsyncClient, hostile_cast: Cast, body: Any
) -> None:
    _problem(await _post(gateway, hostile_cast, json.dumps(body)), "bad-request")


async def test_a_body_that_is_not_json_is_refused_as_a_problem(
    gateway: httpx.AsyncClient, hostile_cast: Cast
) -> None:
    response = await gateway.post(
        "/graphql",
        content=f"query={ME}",
        headers={**hostile_cast.provider.headers, "Content-Type": "text/plain"},
    )
    _problem(response, "bad-request")


# --- over WebSocket ------------------------------------------------------------------------------------


@asynccontextmanager
async def _acknowledged(platform: Platform, cast: Cast) -> AsyncIterator[ClientConnection]:
    url = platform.url("gateway").replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {cast.provider.token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "connection_ack"
        yield ws


async def _closed_with(ws: ClientConnection) -> int | None:
    """The close code the gateway sent (after any messages it sent first)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def _subscribe(payload: Any, *, id: Any = "1") -> str:
    return json.dumps({"id": id, "type": "subscribe", "payload": payload})


SUBSCRIBE = "subscription Ledger($id: ID!) { ledgerEvents(partnershipId: $id) { sequence } }"


@pytest.mark.parametrize(
    "frame",
    [
        _nested(DEEP),
        '{"type": "ping", "payload": ' + _nested(DEEP) + "}",
        _subscribe({"query": SUBSCRIBE, "variables": {"id": json.loads(_nested(MAX_JSON_DEPTH))}}),
        "[]",
        '"subscribe"',
        "42",
        '{"type": ["subscribe"]}',
        _subscribe("query"),
        _subscribe(["query", SUBSCRIBE]),
        _subscribe({"query": 42}),
        _subscribe({"query": SUBSCRIBE, "variables": ["id"]}),
        _subscribe({"query": SUBSCRIBE, "operationName": ["Ledger"]}),
        _subscribe({"query": SUBSCRIBE, "extensions": "documentId"}),
        _subscribe({"query": SUBSCRIBE}, id=["1"]),
        _subscribe({"query": SUBSCRIBE}, id="x" * 1000),
        json.dumps({"id": ["1"], "type": "complete"}),
        _subscribe({"query": "subscription { ledgerEvents( }"}),
        _subscribe({}),
        _subscribe({"query": ""}),
        '{"type": "subscribe", "id": "1", "payload": {"query": "',
    ],
    ids=[
        "deep-frame",
        "deep-payload",
        "deep-variables",
        "array",
        "string",
        "number",
        "type-not-a-string",
        "payload-a-string",
        "payload-an-array",
        "query-not-a-string",
        "variables-an-array",
        "operation-name-an-array",
        "extensions-a-string",
        "id-an-array",
        "id-too-long",
        "complete-id-an-array",
        "syntax-error",
        "no-query",
        "empty-query",
        "truncated",
    ],
)
async def test_a_hostile_message_closes_the_socket_with_4400(
    platform: Platform, hostile_cast: Cast, frame: str
) -> None:
    async with _acknowledged(platform, hostile_cast) as ws:
        await ws.send(frame)
        assert await _closed_with(ws) == 4400


async def test_frames_that_are_not_utf8_text_close_the_socket_not_the_server(
    platform: Platform, hostile_cast: Cast
) -> None:
    async with _acknowledged(platform, hostile_cast) as ws:
        await ws.send(b'{"type": "ping"}\xff', text=True)
        assert await _closed_with(ws) == 1007  # the WebSocket protocol's "invalid frame payload data"
    async with _acknowledged(platform, hostile_cast) as ws:
        await ws.send(b'{"type": "ping"}')  # a binary frame
        assert await _closed_with(ws) == 4400
    async with _acknowledged(platform, hostile_cast) as ws:  # and the gateway still serves
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "pong"


async def test_a_deep_connection_init_closes_the_socket_with_4400(platform: Platform) -> None:
    url = platform.url("gateway").replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send('{"type": "connection_init", "payload": {"Authorization": ' + _nested(DEEP) + "}}")
        assert await _closed_with(ws) == 4400
