"""Where a webhook may point. In production only `https`, and never to an address that is loopback,
private, link-local, multicast, reserved or unspecified, checked on the addresses the name resolves to
right before each delivery (a DNS answer can change after the subscription was accepted)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


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


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_resolved(url: str, *, allow_private: bool) -> None:
    """Resolve the host and refuse it if any address is not public."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        if _forbidden(str(info[4][0])):
            raise UnsafeTarget(f"{host} resolves to a non-public address")
