"""Signing in as the platform's clients do: a person through authorisation code + PKCE, driving identity's
sign-in page as a browser would (its hidden fields, its CSRF cookie); a machine through client credentials.

The scope lists are identity's (`services/identity/oauth/scopes.py`, which tests/test_sandbox.py holds them
to): a person may hold every scope, a machine every one that does not describe a person.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from effekt.sandbox.http import Refused, expect, new_client

USER_SCOPES = (
    "openid profile email offline_access partners:read partners:write contracts:read contracts:write "
    "contracts:sign outcomes:read outcomes:write outcomes:verify feed:read webhooks:manage audit:read"
)
PERSON_ONLY_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
MACHINE_SCOPES = " ".join(s for s in USER_SCOPES.split() if s not in PERSON_ONLY_SCOPES)
# A code-flow client's redirect that nothing listens on: the code is read from the redirect's Location.
REDIRECT_URI = "http://127.0.0.1/effekt-test/callback"

_HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def pkce_pair() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def authorization_code(
    identity: httpx.AsyncClient,
    *,
    client_id: str,
    email: str,
    password: str,
    scopes: str,
    challenge: str,
    redirect_uri: str = REDIRECT_URI,
    state: str = "s",
    nonce: str | None = None,
) -> httpx.Response:
    """Drive the sign-in page; returns the final redirect (or the page, when identity refuses)."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scopes,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if nonce:
        params["nonce"] = nonce
    page = await identity.get("/oauth2/authorize", params=params)
    if page.status_code != 200:
        return page
    form = {name: unescape(value) for name, value in _HIDDEN_INPUT.findall(page.text)}
    form.update({"email": email, "password": password, "decision": "allow"})
    # The CSRF cookie the page set travels in the client's cookie jar, as in a browser.
    return await identity.post("/oauth2/authorize", data=form)


async def sign_in(
    identity_url: str,
    *,
    client_id: str,
    email: str,
    password: str,
    scopes: str = USER_SCOPES,
    redirect_uri: str = REDIRECT_URI,
) -> dict[str, Any]:
    """A person's token response through the whole code flow, in a cookie jar of its own (a new browser)."""
    verifier, challenge = pkce_pair()
    async with new_client(identity_url, timeout=30.0) as browser:
        redirect = await authorization_code(
            browser,
            client_id=client_id,
            email=email,
            password=password,
            scopes=scopes,
            challenge=challenge,
            redirect_uri=redirect_uri,
            state=secrets.token_urlsafe(8),
        )
        if redirect.status_code != 302:
            raise Refused(f"signing in {email} failed: {redirect.status_code} {redirect.text[:500]}")
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        response = await browser.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
    return dict(expect(response, 200))


async def client_credentials(
    identity: httpx.AsyncClient, client_id: str, client_secret: str, scopes: str | None = None
) -> dict[str, Any]:
    """A machine's token response (every scope its registration holds, unless `scopes` asks for fewer)."""
    data = {"grant_type": "client_credentials"}
    if scopes is not None:
        data["scope"] = scopes
    response = await identity.post("/oauth2/token", data=data, auth=(client_id, client_secret))
    return dict(expect(response, 200))


def claims_of(token: str) -> dict[str, Any]:
    """The token's payload, unverified: for reading ids and expiry, never for trusting them."""
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
