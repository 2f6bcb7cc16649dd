"""How the sandbox talks HTTP: `client` (a new `httpx.AsyncClient` that costs no certificate loading), and
how it reads an answer: the status it expects, or `Refused` naming the call and the answer."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


class Refused(RuntimeError):
    """A service refused a step (the message names the call, the status and the start of the body)."""


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, made once: every new client otherwise loads the CA bundle again (about
    20 ms of CPU), which a test session opening a thousand clients and a cast's ten browsers feel."""
    return httpx.create_ssl_context()


def new_client(base_url: str = "", **options: Any) -> httpx.AsyncClient:
    """A new client (its own connections and cookie jar, as a new browser's) that verifies TLS as httpx's
    default does, with the context shared."""
    return httpx.AsyncClient(base_url=base_url, verify=_tls(), **options)


def expect(response: httpx.Response, *statuses: int) -> Any:
    """The decoded body (None when empty) if the status is one of `statuses` (default 200 or 201)."""
    if response.status_code not in (statuses or (200, 201)):
        call = f"{response.request.method} {response.request.url}"
        raise Refused(f"{call}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None
