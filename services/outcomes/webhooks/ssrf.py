"""Where a webhook may point. In production only `https`, and never to an address that is loopback,
private, link-local, multicast, reserved or unspecified, nor to an IPv6 form that carries such an IPv4
address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`: the embedded address is
checked) or whose embedding is not ours to know (IPv4-compatible `::/96`, local-use NAT64
`64:ff9b:1::/48`, site-local `fec0::/10`): refused outright.

Checked twice: when a subscription is created or its URL changed (a 422 then, not a failure at every
delivery), and at every connection, because a DNS answer can change after that. The delivery check is
the one that holds: `PinnedBackend` resolves the name once, refuses it if any address is not public, and
connects to an address it checked. The HTTP client never resolves the name itself, so a second answer
(DNS rebinding: public for the check, 127.0.0.1 for the connect) is never asked for. The request keeps
the name in its Host header and its TLS SNI, and the certificate is verified for the name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the low 32 bits
_REFUSED_V6 = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated): no router should carry it
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215): the operator picks the embedding
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated), still routed inside some networks
)


class UnsafeTarget(ValueError):
    """The URL may not be delivered to; the message says why."""


def check_url(url: str, *, allow_insecure: bool) -> None:
    """Static checks, at subscription time and before every delivery."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeTarget("must be an absolute http(s) URL")
    if parts.scheme != "https" and not allow_insecure:
        raise UnsafeTarget("must use https")
    if parts.username or parts.password:
        raise UnsafeTarget("must not carry credentials")


def forbidden(address: str) -> bool:
    """Whether an address (as `getaddrinfo` gives it) is not a public unicast one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # a dual-stack socket connects to the IPv4 address itself
            return forbidden(str(ip.ipv4_mapped))
        if any(ip in network for network in _REFUSED_V6):
            return True
        embedded = ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF) if ip in _NAT64 else None)
        if embedded is not None and forbidden(str(embedded)):
            return True
    return not ip.is_global or ip.is_multicast


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refuse_non_public(host: str, addresses: list[str]) -> None:
    """Every address `host` resolved to must be public: one bad answer refuses them all."""
    if not addresses:
        raise UnsafeTarget(f"{host} resolves to no address")
    if any(forbidden(a) for a in addresses):
        raise UnsafeTarget(f"{host} resolves to a non-public address")


async def check_resolved(url: str, *, allow_private: bool, resolve: Resolver = system_resolver) -> None:
    """Resolve the URL's host and refuse it if any address is not public (the subscription-time check)."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = await resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc}") from None
    refuse_non_public(host, addresses)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses it resolved and checked itself."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:  # as httpx reports a name that does not resolve: a failed connect
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not self._allow_private:
            refuse_non_public(host, addresses)
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:  # each one checked above; the next only if one cannot be reached
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeTarget("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a `PinnedBackend`. httpx takes no network backend, so its connection pool is
    replaced by an identical one that has it (what `AsyncHTTPTransport.__init__` builds without a proxy)."""

    def __init__(self, backend: PinnedBackend) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,  # httpx's default limits
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


def webhook_client(
    *,
    timeout: float,
    allow_private: bool,
    resolve: Resolver = system_resolver,
    inner: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """The dispatcher's HTTP client: no redirects, no proxy from the environment (a proxy would resolve the
    name itself), and every connection through a `PinnedBackend`."""
    backend = PinnedBackend(allow_private=allow_private, resolve=resolve, inner=inner)
    return httpx.AsyncClient(
        transport=PinnedTransport(backend), timeout=timeout, follow_redirects=False, trust_env=False
    )
