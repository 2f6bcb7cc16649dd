"""Where a webhook may point, as production enforces it: a subscription to a non-public address (however
its IPv6 form wraps an IPv4 one) is refused when created or re-pointed, and a delivery connects only to
an address the dispatcher resolved and checked itself, so a DNS answer that changes between the check and
the connect (rebinding) never reaches loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any
from uuid import uuid4

import httpcore
import httpx
import pytest
import uvicorn

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.http import new_client
from effekt.sandbox.platform import free_port
from services.outcomes.app import create_app
from services.outcomes.settings import Settings
from services.outcomes.webhooks.ssrf import UnsafeTarget, forbidden, webhook_client

PUBLIC = "93.184.215.14"

REFUSED = {
    "loopback": "https://127.0.0.1/hook",
    "loopback by name": "https://localhost/hook",
    "loopback as one decimal number": "https://2130706433/hook",
    "private https": "https://10.1.2.3/hook",
    "private 192.168": "https://192.168.0.10/hook",
    "cloud metadata": "https://169.254.169.254/latest/meta-data",
    "IPv6 loopback": "https://[::1]/hook",
    "unspecified": "https://0.0.0.0/hook",
    "IPv4-compatible loopback": "https://[::7f00:1]/hook",
    "IPv4-compatible public": "https://[::808:808]/hook",
    "IPv4-mapped loopback": "https://[::ffff:127.0.0.1]/hook",
    "IPv4-mapped private": "https://[::ffff:10.0.0.1]/hook",
    "NAT64 loopback": "https://[64:ff9b::7f00:1]/hook",
    "NAT64 metadata": "https://[64:ff9b::a9fe:a9fe]/hook",
    "local-use NAT64": "https://[64:ff9b:1::808:808]/hook",
    "6to4 loopback": "https://[2002:7f00:1::1]/hook",
    "6to4 private": "https://[2002:a00:1::1]/hook",
    "site-local": "https://[fec0::1]/hook",
    "unique local": "https://[fd00::1]/hook",
    "plain http": "http://8.8.8.8/hook",
}
ACCEPTED = [
    "https://8.8.8.8/hook",
    "https://[2606:4700:4700::1111]/hook",
    "https://[64:ff9b::808:808]/hook",  # NAT64 of a public address
    "https://[2002:808:808::1]/hook",  # 6to4 of a public address
    "https://[::ffff:8.8.8.8]/hook",
]


@pytest.fixture(scope="module")
def strict_cast(shared_cast: Cast) -> Cast:
    return shared_cast


@pytest.fixture(scope="module")
async def strict_outcomes(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """An outcomes replica of its own (in this process, on the shared database) with insecure webhooks
    off, as in production; its dispatcher does not run, so nothing is delivered anywhere."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in platform.env.items():
            if name.startswith("OUTCOMES_"):
                env.setenv(name, value)
        env.setenv("OUTCOMES_WEBHOOK_ALLOW_INSECURE", "false")
        env.setenv("OUTCOMES_WEBHOOK_DISPATCHER", "false")
        settings = Settings()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the strict outcomes replica did not start"
        await asyncio.sleep(0.05)
    try:
        async with new_client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def listed(outcomes: httpx.AsyncClient, cast: Cast) -> list[Any]:
    response = await outcomes.get("/v1/webhook-subscriptions", headers=cast.investor.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def create(outcomes: httpx.AsyncClient, cast: Cast, url: str) -> httpx.Response:
    return await outcomes.post(
        "/v1/webhook-subscriptions",
        json={"partnership_id": str(cast.partnership_id), "url": url},
        headers={**cast.investor.headers, "Idempotency-Key": uuid4().hex},
    )


def assert_unsafe(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unsafe-webhook-url"
    assert [p["name"] for p in response.json()["invalid_params"]] == ["url"]


async def test_a_subscription_to_a_non_public_address_is_refused_when_created(
    strict_outcomes: httpx.AsyncClient, strict_cast: Cast
) -> None:
    before = await listed(strict_outcomes, strict_cast)
    for case, url in REFUSED.items():
        response = await create(strict_outcomes, strict_cast, url)
        assert response.status_code == 422, (case, response.text)
        assert_unsafe(response)
    assert await listed(strict_outcomes, strict_cast) == before


async def test_a_subscription_to_a_public_address_is_accepted(
    strict_outcomes: httpx.AsyncClient, strict_cast: Cast
) -> None:
    for url in ACCEPTED:
        response = await create(strict_outcomes, strict_cast, url)
        assert response.status_code == 201, (url, response.text)


@pytest.mark.parametrize("case", ["private https", "IPv4-mapped private", "NAT64 loopback", "6to4 loopback"])
async def test_re_pointing_a_subscription_at_a_non_public_address_is_refused(
    strict_outcomes: httpx.AsyncClient, strict_cast: Cast, case: str
) -> None:
    created = await create(strict_outcomes, strict_cast, "https://8.8.8.8/hook")
    assert created.status_code == 201, created.text
    path = f"/v1/webhook-subscriptions/{created.json()['id']}"
    before = (await strict_outcomes.get(path, headers=strict_cast.investor.headers)).json()
    response = await strict_outcomes.patch(
        path, json={"url": REFUSED[case]}, headers={**strict_cast.investor.headers, "If-Match": '"1"'}
    )
    assert_unsafe(response)
    assert (await strict_outcomes.get(path, headers=strict_cast.investor.headers)).json() == before


NAMES = ("localhost", "2130706433")  # resolved first: covered through the API above, as is plain http
ADDRESSES = [httpx.URL(u).host for u in REFUSED.values() if u.startswith("https:")]


@pytest.mark.parametrize("address", [a for a in ADDRESSES if a not in NAMES])
def test_every_refused_address_is_forbidden_by_the_connect_time_check(address: str) -> None:
    assert forbidden(address)


@pytest.mark.parametrize("address", [httpx.URL(u).host for u in ACCEPTED])
def test_public_addresses_are_not_forbidden(address: str) -> None:
    assert not forbidden(address)


# --- the connection goes to the address that was checked ------------------------------------------------


class Rebinding:
    """A resolver whose answer changes: `answers[n]` to the n-th question, the last one from then on."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.asked = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


class Stream(httpcore.AsyncNetworkStream):
    """A connection that records what was sent and answers every request with 204."""

    def __init__(self, network: Network) -> None:
        self.network = network

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's interface
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's interface
        self.network.sent += buffer

    async def aclose(self) -> None:
        return None

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        self.network.tls_names.append(server_hostname)
        return self


class Network(httpcore.AsyncNetworkBackend):
    """Stands in for the sockets: records the address every connection is opened to."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []
        self.tls_names: list[str | None] = []
        self.sent = b""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return Stream(self)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_a_rebinding_name_never_reaches_loopback() -> None:
    resolver, network = Rebinding([PUBLIC], ["127.0.0.1"]), Network()
    for _ in range(3):  # a new client each time: a new connection, a new answer
        async with webhook_client(timeout=5, allow_private=False, resolve=resolver, inner=network) as client:
            try:
                response = await client.post("https://hooks.rebind.test/hook", content=b"{}")
            except UnsafeTarget:
                continue
            assert response.status_code == 204
    assert resolver.asked == 3  # once per connection: the HTTP client never asks on its own
    assert network.connected == [(PUBLIC, 443)]  # the checked address, and loopback never
    assert network.tls_names == ["hooks.rebind.test"]  # SNI and certificate checked for the name
    assert b"\r\nHost: hooks.rebind.test\r\n" in network.sent


async def test_one_non_public_answer_refuses_the_name_and_nothing_is_connected() -> None:
    network = Network()
    resolver = Rebinding([PUBLIC, "127.0.0.1"])
    async with webhook_client(timeout=5, allow_private=False, resolve=resolver, inner=network) as client:
        with pytest.raises(UnsafeTarget):
            await client.post("https://hooks.rebind.test/hook", content=b"{}")
    assert network.connected == []


async def test_the_client_connects_over_real_sockets_to_the_address_it_resolved() -> None:
    """`hooks.rebind.test` exists in no DNS: the request arrives only because the client connected to the
    address its own resolver gave, with the name kept in the Host header."""
    hosts: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        hosts.extend(line[6:].decode() for line in head.split(b"\r\n") if line.lower().startswith(b"host:"))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        loopback = Rebinding(["127.0.0.1"])
        async with webhook_client(timeout=5, allow_private=True, resolve=loopback) as dev:
            assert (await dev.post(f"http://hooks.rebind.test:{port}/hook")).status_code == 204
        async with webhook_client(timeout=5, allow_private=False, resolve=loopback) as production:
            with pytest.raises(UnsafeTarget):
                await production.post(f"http://hooks.rebind.test:{port}/hook")
    finally:
        listener.close()
        await listener.wait_closed()
    assert hosts == [f"hooks.rebind.test:{port}"]  # production's attempt never reached the listener
