"""Every operation every service documents refuses a request without a valid token, except the few that
must be public (health, discovery, the OAuth2 endpoints, which authenticate the client themselves).

Walks each service's own OpenAPI document, so a route added later is covered without touching this file.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client

# (service, method, path template): public by design, and why.
SERVICES = ("identity", "contracts", "outcomes")
PUBLIC = {
    # Liveness and readiness for the orchestrator; the metrics endpoint is never routed by the Ingress.
    *((name, "GET", path) for name in SERVICES for path in ("/healthz", "/readyz", "/metrics")),
    # OIDC discovery and the keys every verifier needs before it has a token.
    ("identity", "GET", "/.well-known/openid-configuration"),
    ("identity", "GET", "/.well-known/oauth-authorization-server"),
    ("identity", "GET", "/jwks.json"),
    # The authorisation endpoint shows the sign-in page and takes the user's credentials.
    ("identity", "GET", "/oauth2/authorize"),
    ("identity", "POST", "/oauth2/authorize"),
    # RP-initiated logout: a browser brings the sign-in's `id_token_hint`, never a bearer token.
    ("identity", "GET", "/oauth2/logout"),
    ("identity", "POST", "/oauth2/logout"),
    # The origins a browser page may call from, which CORS itself makes public.
    ("identity", "GET", "/v1/cors-origins"),
    # Open data: what the outcome payers published, only `public` blocks, for knowledge centres to link to
    # (docs/open-data.md); rate-limited per address.
    ("contracts", "GET", "/v1/public/partnerships/{partnership_id}/indigo"),
    ("contracts", "GET", "/v1/public/contracts/{contract_id}/ocds-record"),
}
# OAuth2 endpoints that authenticate the *client* (RFC 6749/7009/7662): no bearer token, but a request
# without client credentials must still be refused.
CLIENT_AUTHENTICATED = {
    ("identity", "POST", "/oauth2/token"),
    ("identity", "POST", "/oauth2/revoke"),
    ("identity", "POST", "/oauth2/introspect"),
}
FORGED = "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [(m.upper(), path) for path, item in document["paths"].items() for m in item if m in methods]


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)


@pytest.mark.parametrize("name", SERVICES)
async def test_every_documented_operation_needs_a_token(platform: Platform, name: str) -> None:
    async with new_client(base_url=platform.url(name), timeout=30) as client:
        document = (await client.get("/openapi.json")).json()
        operations = _operations(document)
        assert len(operations) > 10  # the walk really read the document
        checked, public = 0, 0
        for method, template in operations:
            key = (name, method, template)
            if key in PUBLIC:
                public += 1
                continue
            url = _concrete(template)
            for headers in ({}, {"Authorization": FORGED}):
                response = await client.request(method, url, headers=headers, json={})
                expected = (400, 401) if key in CLIENT_AUTHENTICATED else (401,)
                assert response.status_code in expected, (method, template, headers, response.text)
                assert response.headers["content-type"].startswith(
                    ("application/problem+json", "application/json")
                ), (method, template)
                checked += 1
        assert checked == 2 * (len(operations) - public)
