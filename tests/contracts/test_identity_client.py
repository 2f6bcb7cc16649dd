"""The identity client reads memberships tolerantly and tells a refusal from an outage (no network: an
httpx transport that answers as identity would)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import httpx
import pytest

from services.contracts.clients.identity import IdentityClient
from services.contracts.errors import IdentityUnavailable, MembershipsUnreadable

PARTNERSHIP = uuid4()
ORG_A, ORG_B = uuid4(), uuid4()


def client(handler: Callable[[httpx.Request], httpx.Response]) -> IdentityClient:
    return IdentityClient("http://identity/", http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_pages_are_followed_and_roles_merged_per_organisation() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v1/partnerships/{PARTNERSHIP}/memberships"
        assert request.headers["authorization"] == "Bearer caller-token"
        if "cursor" not in request.url.params:
            items = [
                {"organisation_id": str(ORG_A), "role": "outcome_payer", "id": "x", "extra": {"ignored": 1}},
                {"organisation_id": str(ORG_B), "role": "provider"},
            ]
            return httpx.Response(200, json={"items": items, "next_cursor": "page-2"})
        assert request.url.params["cursor"] == "page-2"
        items = [{"organisation_id": str(ORG_A), "roles": ["observer"]}, "not-an-object"]
        return httpx.Response(200, json={"items": items, "next_cursor": None})

    roles = await client(handler).partnership_roles(PARTNERSHIP, token="caller-token")
    assert roles == {ORG_A: frozenset({"outcome_payer", "observer"}), ORG_B: frozenset({"provider"})}


async def test_a_plain_list_is_read_too_and_inactive_memberships_are_skipped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[
                {"organisation_id": str(ORG_A), "role": "provider", "status": "active"},
                {"organisation_id": str(ORG_B), "role": "provider", "status": "ended"},
            ],
        )

    assert await client(handler).partnership_roles(PARTNERSHIP, token="t") == {ORG_A: frozenset({"provider"})}


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_identity_refusing_the_caller_is_a_403_not_an_outage(status: int) -> None:
    with pytest.raises(MembershipsUnreadable):
        await client(lambda _: httpx.Response(status, json={})).partnership_roles(PARTNERSHIP, token="t")


async def test_identity_failing_or_unreachable_is_a_503() -> None:
    with pytest.raises(IdentityUnavailable):
        await client(lambda _: httpx.Response(502)).partnership_roles(PARTNERSHIP, token="t")

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(IdentityUnavailable):
        await client(unreachable).partnership_roles(PARTNERSHIP, token="t")


@pytest.mark.parametrize("body", [b"<html>", b'{"items": [{"organisation_id": "not-a-uuid"}]}', b'"text"'])
async def test_an_unreadable_answer_is_a_503_not_a_500(body: bytes) -> None:
    with pytest.raises(IdentityUnavailable):
        await client(lambda _: httpx.Response(200, content=body)).partnership_roles(PARTNERSHIP, token="t")
