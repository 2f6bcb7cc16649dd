"""How the sandbox reads an answer: the status it expects, or `Refused` naming the call and the answer."""

from __future__ import annotations

from typing import Any

import httpx


class Refused(RuntimeError):
    """A service refused a step (the message names the call, the status and the start of the body)."""


def expect(response: httpx.Response, *statuses: int) -> Any:
    """The decoded body (None when empty) if the status is one of `statuses` (default 200 or 201)."""
    if response.status_code not in (statuses or (200, 201)):
        call = f"{response.request.method} {response.request.url}"
        raise Refused(f"{call}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None
