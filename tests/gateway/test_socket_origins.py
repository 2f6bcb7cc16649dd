"""The graph's WebSocket from a browser page on another origin: admitted for the origins CORS admits (a
registered redirect URI's), refused with a 403 handshake for any other. Non-browser clients send no
`Origin` and are not affected (tests/gateway/test_subscriptions.py)."""

from __future__ import annotations

import json

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from effekt.launcher import Platform
from effekt.sandbox import directory
from effekt.sandbox.cast import Cast

REGISTERED = "http://127.0.0.1:5999"


async def _handshake(platform: Platform, origin: str, token: str) -> dict[str, str]:
    url = platform.url("gateway").replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        answer: dict[str, str] = json.loads(await ws.recv())
        return answer


async def test_a_registered_origin_opens_the_socket_and_a_foreign_one_is_refused(
    platform: Platform, shared_cast: Cast
) -> None:
    await directory.create_web_client(platform, "Socket origin (test)", f"{REGISTERED}/callback")
    # Registered a moment ago: the handshake re-reads the set rather than refusing it.
    assert (await _handshake(platform, REGISTERED, shared_cast.investor.token))["type"] == "connection_ack"
    with pytest.raises(InvalidStatus) as refused:
        await _handshake(platform, "http://127.0.0.1:5998", shared_cast.investor.token)
    assert refused.value.response.status_code == 403
