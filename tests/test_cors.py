"""CORS across the platform: a registered redirect URI's origin (or the deployment's configured one) may
call identity's public endpoints, the graph and the feed from a browser; any other origin gets no
`Access-Control-Allow-Origin`, and no answer ever allows credentials."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from effekt.launcher import Platform
from gateway.app import create_app
from gateway.settings import Settings
from tests.actors import USER_SCOPES, create_organisation, operator_headers

CONFIGURED_ORIGIN = "https://console.example.dk"

# (service, method, path): what a partner UI calls cross-origin.
ENDPOINTS = [
    ("identity", "GET", "/.well-known/openid-configuration"),
    ("identity", "GET", "/jwks.json"),
    ("identity", "POST", "/oauth2/token"),
    ("identity", "POST", "/oauth2/revoke"),
    ("identity", "GET", "/oauth2/userinfo"),
    ("gateway", "POST", "/graphql"),
    ("outcomes", "GET", "/v1/feed"),
    ("outcomes", "GET", "/v1/feed/stream"),
]


async def registered_origin(platform: Platform) -> str:
    """A fresh origin, made allowed by registering a client whose redirect URI is on it."""
    origin = f"http://127.0.0.1:{20000 + secrets.randbelow(40000)}"
    organisation = await create_organisation(platform, "provider", "CORS provider")
    async with httpx.AsyncClient(base_url=platform.url("identity")) as identity:
        response = await identity.post(
            f"/v1/organisations/{organisation['id']}/clients",
            headers=await operator_headers(platform),
            json={
                "name": "Console",
                "client_type": "public",
                "redirect_uris": [f"{origin}/callback"],
                "grant_types": ["authorization_code"],
                "scopes": USER_SCOPES.split(),
            },
        )
    assert response.status_code == 201, response.text
    return origin


async def preflight(platform: Platform, service: str, method: str, path: str, origin: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=platform.url(service)) as http:
        return await http.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )


async def allowed_preflight(
    platform: Platform, service: str, method: str, path: str, origin: str
) -> httpx.Response:
    """A preflight that waits out the one-second window in which a process does not re-read the set."""
    for _ in range(20):
        response = await preflight(platform, service, method, path, origin)
        if response.status_code == 200:
            return response
        await asyncio.sleep(0.25)
    return response


@pytest.mark.parametrize(("service", "method", "path"), ENDPOINTS)
async def test_a_registered_origin_is_answered_and_a_foreign_one_is_refused(
    platform: Platform, service: str, method: str, path: str
) -> None:
    origin = await registered_origin(platform)
    allowed = await allowed_preflight(platform, service, method, path, origin)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == origin
    assert method in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert "Origin" in allowed.headers["vary"]

    refused = await preflight(platform, service, method, path, "https://evil.example")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    async with httpx.AsyncClient(base_url=platform.url(service)) as http:
        # The actual request: a 401 without a token still tells the browser it may read the answer.
        for request_origin, expected in ((origin, origin), ("https://evil.example", None)):
            answer = await http.request(method, path, headers={"Origin": request_origin}, timeout=5)
            assert answer.headers.get("access-control-allow-origin") == expected
            assert "access-control-allow-credentials" not in answer.headers


async def test_the_deployments_configured_origins_are_allowed_beside_the_registered_ones(
    platform: Platform,
) -> None:
    origin = await registered_origin(platform)
    settings = Settings(
        environment="test", cors_origins=[CONFIGURED_ORIGIN], jwks_url=f"{platform.url('identity')}/jwks.json"
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        answers = {
            asked: await http.options(
                "/graphql", headers={"Origin": asked, "Access-Control-Request-Method": "POST"}
            )
            for asked in (CONFIGURED_ORIGIN, origin, "https://evil.example")
        }
    assert answers[CONFIGURED_ORIGIN].headers["access-control-allow-origin"] == CONFIGURED_ORIGIN
    assert answers[origin].headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in answers["https://evil.example"].headers


async def test_the_admin_api_gets_no_cors_and_the_published_set_holds_only_origins(
    platform: Platform,
) -> None:
    origin = await registered_origin(platform)
    assert (await allowed_preflight(platform, "identity", "POST", "/oauth2/token", origin)).status_code == 200
    # The admin API is for servers and the gateway: no CORS, even for an allowed origin.
    admin = await preflight(platform, "identity", "POST", "/v1/organisations", origin)
    assert "access-control-allow-origin" not in admin.headers
    async with httpx.AsyncClient(base_url=platform.url("identity")) as identity:
        published = (await identity.get("/v1/cors-origins")).json()["origins"]
    assert origin in published
    assert all("/" not in o.split("://", 1)[1] for o in published)
