"""Request ids: a client's well-formed id is kept (and echoed), one holding a CPR-shaped number is not —
it would be written on every log line of the request, at every service."""

from __future__ import annotations

import uuid

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kit.http import RequestIdMiddleware


async def _echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.scope["state"]["request_id"])


APP = RequestIdMiddleware(Starlette(routes=[Route("/", _echo)]))


async def _request_id(sent: str) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://t") as client:
        response = await client.get("/", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == response.text
    return response.text


@pytest.mark.parametrize(
    "sent", ["0101904321", "010190-4321", "case-010190-4321", "case:0101904321.retry", "010190-4321-2"]
)
async def test_an_id_holding_a_cpr_number_is_replaced(sent: str) -> None:
    minted = await _request_id(sent)
    assert minted != sent
    assert "0101904321" not in minted
    assert "010190-4321" not in minted


@pytest.mark.parametrize("sent", ["order-2026-12-03", "batch.0101904321a", "01019043210", "job-12345-6789"])
async def test_other_well_formed_ids_are_kept(sent: str) -> None:
    assert await _request_id(sent) == sent


async def test_hex_ids_and_uuids_are_always_kept() -> None:
    """Minted ids travel from the gateway to the services in the same header: none may be refused."""
    for _ in range(300):
        for sent in (uuid.uuid4().hex, str(uuid.uuid4())):
            assert await _request_id(sent) == sent
