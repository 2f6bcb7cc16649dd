"""The gateway's service client against a server that drops the first connection without answering, as a
service does when it closes an idle keep-alive socket the gateway's pool is about to reuse: a write that
carries an Idempotency-Key is sent once more (the service would replay), one without is not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson
import pytest

from gateway.clients import ServiceClient, ServiceUnavailable
from gateway.clients.identity import IdentityClient, OrganisationRow
from gateway.clients.transport import BATCH


class DroppingServer:
    """Answers 200 with a JSON body, except that the first connection is closed before any answer."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        self.requests.append(head)
        if len(self.requests) > 1:
            body = b'{"ok": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    @asynccontextmanager
    async def client(self) -> AsyncIterator[ServiceClient]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, aiohttp.ClientSession() as http:
            yield ServiceClient("outcomes", f"http://127.0.0.1:{port}", http, "token")


async def test_a_write_with_an_idempotency_key_is_sent_again_under_the_same_key() -> None:
    server = DroppingServer()
    async with server.client() as client:
        answer = await client.send("POST", "/v1/things", {"a": 1}, headers={"Idempotency-Key": "k-1"})
    assert answer == {"ok": True}
    assert len(server.requests) == 2
    assert all(b"idempotency-key: k-1" in r.lower() for r in server.requests)
    assert client.calls["outcomes"] == 1  # one logical call, however many connections it took


async def test_a_write_without_an_idempotency_key_is_never_sent_twice() -> None:
    server = DroppingServer()
    async with server.client() as client:
        with pytest.raises(ServiceUnavailable):
            await client.send("PATCH", "/v1/things/1", {"a": 1}, headers={"If-Match": '"3"'})
    assert len(server.requests) == 1


async def test_a_read_is_retried_once() -> None:
    server = DroppingServer()
    async with server.client() as client:
        assert await client.get("/v1/things") == {"ok": True}
    assert len(server.requests) == 2


class EchoingIdentity:
    """Answers `GET /v1/organisations?ids=…` with a row per id, carrying a field the gateway does not read."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        target = head.split(" ")[1]
        self.requests.append(target)
        ids = parse_qs(urlsplit(target).query)["ids"][0].split(",")
        items = [
            {
                "id": i,
                "name": "Org",
                "partner_type": "provider",
                "identifier": "DK-CVR-12345678",
                "unknown": {"x": 1},
            }
            for i in ids
        ]
        body = orjson.dumps({"items": items, "next_cursor": None})
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


async def test_a_batch_read_is_chunked_to_the_service_limit_and_read_into_typed_rows() -> None:
    service = EchoingIdentity()
    server = await asyncio.start_server(service._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ids = [uuid.uuid4() for _ in range(BATCH["identity"] + 1)]
    async with server, aiohttp.ClientSession() as http:
        client = IdentityClient(ServiceClient("identity", f"http://127.0.0.1:{port}", http, "token"))
        rows = await client.organisations(ids)
    assert len(service.requests) == 2
    assert all(r.startswith("/v1/organisations?") for r in service.requests)
    assert set(rows) == set(ids)
    row = rows[ids[0]]
    assert isinstance(row, OrganisationRow)
    assert (row.id, row.partner_type, row.municipality_code) == (ids[0], "provider", None)
