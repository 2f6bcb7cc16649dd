"""Who acts in a test: real organisations, users and machine clients made through identity's HTTP API, each
holding a real access token (users through authorisation code + PKCE, machines through client
credentials).

`make_cast(platform)` builds a brand-new partnership with one organisation per role; `token_for` mints a
fresh token for an actor (e.g. with fewer scopes, or after its memberships changed). The very first
operator is the bootstrap client identity ensures on start-up from `IDENTITY_BOOTSTRAP_OPERATOR_*`, which
`tests/platform.py` sets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx

from effekt.launcher import Platform

USER_SCOPES = (
    "openid profile email offline_access partners:read partners:write contracts:read contracts:write "
    "contracts:sign outcomes:read outcomes:write outcomes:verify feed:read webhooks:manage audit:read"
)
MACHINE_SCOPES = (
    "partners:read partners:write contracts:read contracts:write contracts:sign outcomes:read outcomes:write "
    "outcomes:verify feed:read webhooks:manage audit:read"
)
REDIRECT_URI = "http://127.0.0.1/effekt-test/callback"
PASSWORD = "Correct-Horse-Battery-9"


@dataclass(frozen=True)
class Actor:
    organisation_id: UUID
    partner_type: str
    token: str
    user_id: UUID | None = None
    municipality_code: str | None = None
    # How to mint another token for this actor (`token_for`).
    email: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Cast:
    partnership_id: UUID
    payer_a: Actor
    payer_b: Actor
    provider: Actor
    investor: Actor
    evaluator: Actor
    adviser: Actor
    observer: Actor
    operator: Actor
    outsider: Actor
    provider_member: Actor
    provider_machine: Actor
    investor_machine: Actor


# --- small builders ---------------------------------------------------------------------------------------


def random_cvr() -> str:
    """A fresh CVR number that passes the modulus-11 check."""
    weights = (2, 7, 6, 5, 4, 3, 2)
    while True:
        digits = [secrets.randbelow(9) + 1] + [secrets.randbelow(10) for _ in range(6)]
        check = (-sum(d * w for d, w in zip(digits, weights, strict=True))) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def unique_email(label: str) -> str:
    return f"{label}-{secrets.token_hex(5)}@example.dk"


def _check(response: httpx.Response, status: int = 201) -> Any:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json()


_clients: dict[tuple[str, int], httpx.AsyncClient] = {}


@asynccontextmanager
async def _identity(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """Identity's client for the operator's calls: one per platform and event loop, kept open so a cast
    reuses a few keep-alive connections instead of opening one per call (cookie-free: sign-ins, which
    carry a CSRF cookie, use a client of their own, as each browser would)."""
    key = (platform.url("identity"), id(asyncio.get_running_loop()))
    client = _clients.get(key)
    if client is None or client.is_closed:
        client = _clients[key] = httpx.AsyncClient(base_url=key[0], timeout=30.0)
    yield client


async def close_clients() -> None:
    """Close the shared clients (the session fixture does, at the end)."""
    clients = list(_clients.values())
    _clients.clear()
    for client in clients:
        await client.aclose()


def _browser(platform: Platform) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=platform.url("identity"), timeout=30.0)


# --- tokens -----------------------------------------------------------------------------------------------


async def client_credentials_token(
    platform: Platform, client_id: str, client_secret: str, scopes: str | None = None
) -> dict[str, Any]:
    data = {"grant_type": "client_credentials"}
    if scopes is not None:
        data["scope"] = scopes
    async with _identity(platform) as identity:
        response = await identity.post("/oauth2/token", data=data, auth=(client_id, client_secret))
    return dict(_check(response, 200))


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
    """Drive the sign-in page as a browser would; returns the final redirect (or the page on failure)."""
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
    form = {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    }
    form.update({"email": email, "password": password, "decision": "allow"})
    # The CSRF cookie the page set travels in the client's cookie jar, as in a browser.
    return await identity.post("/oauth2/authorize", data=form)


async def user_token(
    platform: Platform,
    email: str,
    password: str,
    *,
    scopes: str = USER_SCOPES,
    client_id: str | None = None,
) -> dict[str, Any]:
    """A token response for a user, through the full authorisation code + PKCE flow."""
    client_id = client_id or (await _operator(platform)).web_client_id
    verifier, challenge = pkce_pair()
    async with _browser(platform) as identity:
        redirect = await authorization_code(
            identity, client_id=client_id, email=email, password=password, scopes=scopes, challenge=challenge
        )
        if redirect.status_code != 302:
            raise AssertionError(f"sign-in failed: {redirect.status_code} {redirect.text[:500]}")
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        response = await identity.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
    return dict(_check(response, 200))


async def token_for(platform: Platform, actor: Actor, scopes: str | None = None) -> str:
    """A fresh access token for the actor (with `scopes`, or everything its kind may hold)."""
    if actor.email and actor.password:
        return str(
            (await user_token(platform, actor.email, actor.password, scopes=scopes or USER_SCOPES))[
                "access_token"
            ]
        )
    if actor.client_id and actor.client_secret:
        return str(
            (await client_credentials_token(platform, actor.client_id, actor.client_secret, scopes))[
                "access_token"
            ]
        )
    raise ValueError("this actor carries no credentials")


# --- the operator -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OperatorSetup:
    token: str
    organisation_id: UUID
    web_client_id: str


_operators: dict[str, _OperatorSetup] = {}
_operator_lock = asyncio.Lock()


async def _operator(platform: Platform) -> _OperatorSetup:
    """The bootstrap operator's token and a public code-flow client ("the web UI"), once per platform."""
    key = platform.url("identity")
    async with _operator_lock:
        if key not in _operators:
            client_id = platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"]
            secret = platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET"]
            token = await client_credentials_token(platform, client_id, secret)
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            async with _identity(platform) as identity:
                organisation_id = UUID(claims_of(token["access_token"])["org_id"])
                web = _check(
                    await identity.post(
                        f"/v1/organisations/{organisation_id}/clients",
                        headers=headers,
                        json={
                            "name": "Effekt web (tests)",
                            "client_type": "public",
                            "redirect_uris": [REDIRECT_URI],
                            "grant_types": ["authorization_code", "refresh_token"],
                            "scopes": USER_SCOPES.split(),
                        },
                    )
                )
            _operators[key] = _OperatorSetup(token["access_token"], organisation_id, web["client_id"])
        setup = _operators[key]
    # Operator tokens live 15 minutes; test sessions can run longer.
    if claims_of(setup.token)["exp"] - 60 < _now():
        client_id = platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"]
        secret = platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET"]
        token = await client_credentials_token(platform, client_id, secret)
        setup = _OperatorSetup(token["access_token"], setup.organisation_id, setup.web_client_id)
        _operators[key] = setup
    return setup


def _now() -> int:
    return int(time.time())


def claims_of(token: str) -> dict[str, Any]:
    """The token's payload, unverified (the tests that verify do so with PyJWT against the JWKS)."""
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


async def web_client_id(platform: Platform) -> str:
    """The public code-flow client (owned by the operator, so any organisation's users may use it)."""
    return (await _operator(platform)).web_client_id


async def operator_headers(platform: Platform) -> dict[str, str]:
    return bearer((await _operator(platform)).token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def remove_membership(
    platform: Platform, partnership_id: UUID, organisation_id: UUID, role: str | None = None
) -> None:
    """The operator ends an organisation's membership (its only one, or the one with `role`) in a
    partnership; identity supersedes its tokens."""
    async with _identity(platform) as identity:
        headers = await operator_headers(platform)
        listed = await identity.get(
            "/v1/memberships",
            params={"partnership_id": str(partnership_id), "organisation_id": str(organisation_id)},
            headers=headers,
        )
        (membership,) = [m for m in listed.json()["items"] if role is None or m["role"] == role]
        removed = await identity.delete(
            f"/v1/partnerships/{partnership_id}/memberships/{membership['id']}", headers=headers
        )
        assert removed.status_code == 204, removed.text


# --- making organisations, users and clients --------------------------------------------------------------


async def create_organisation(
    platform: Platform,
    partner_type: str,
    name: str,
    *,
    municipality_code: str | None = None,
    identifier: str | None = None,
) -> dict[str, Any]:
    """An organisation made by the operator: with `identifier` (org-id style), else a fresh CVR."""
    body: dict[str, Any] = {"name": name, "partner_type": partner_type}
    body |= {"identifier": identifier} if identifier is not None else {"cvr": random_cvr()}
    if municipality_code is not None:
        body["municipality_code"] = municipality_code
    async with _identity(platform) as identity:
        return dict(
            _check(
                await identity.post("/v1/organisations", json=body, headers=await operator_headers(platform))
            )
        )


async def create_user(
    platform: Platform, organisation_id: UUID | str, org_role: str, *, label: str = "user"
) -> tuple[dict[str, Any], str, str]:
    """A user made by the operator; returns (user, email, password)."""
    email = unique_email(label)
    body = {
        "email": email,
        "display_name": label.replace("-", " ").title(),
        "org_role": org_role,
        "password": PASSWORD,
    }
    async with _identity(platform) as identity:
        user = _check(
            await identity.post(
                f"/v1/organisations/{organisation_id}/users",
                json=body,
                headers=await operator_headers(platform),
            )
        )
    return dict(user), email, PASSWORD


async def create_machine_client(
    platform: Platform, organisation_id: UUID | str, *, scopes: str = MACHINE_SCOPES, name: str = "machine"
) -> dict[str, Any]:
    """A confidential client-credentials client; the response includes `client_secret`."""
    body = {
        "name": name,
        "client_type": "confidential",
        "grant_types": ["client_credentials"],
        "scopes": scopes.split(),
    }
    async with _identity(platform) as identity:
        return dict(
            _check(
                await identity.post(
                    f"/v1/organisations/{organisation_id}/clients",
                    json=body,
                    headers=await operator_headers(platform),
                )
            )
        )


async def add_membership(
    platform: Platform, partnership_id: UUID | str, organisation_id: UUID | str, role: str
) -> dict[str, Any]:
    async with _identity(platform) as identity:
        return dict(
            _check(
                await identity.post(
                    f"/v1/partnerships/{partnership_id}/memberships",
                    json={"organisation_id": str(organisation_id), "role": role},
                    headers=await operator_headers(platform),
                )
            )
        )


async def user_actor(platform: Platform, organisation: dict[str, Any], org_role: str, label: str) -> Actor:
    user, email, password = await create_user(platform, organisation["id"], org_role, label=label)
    token = await user_token(platform, email, password)
    return Actor(
        organisation_id=UUID(organisation["id"]),
        partner_type=organisation["partner_type"],
        token=token["access_token"],
        user_id=UUID(user["id"]),
        municipality_code=organisation.get("municipality_code"),
        email=email,
        password=password,
    )


async def machine_actor(
    platform: Platform, organisation: dict[str, Any], scopes: str = MACHINE_SCOPES
) -> Actor:
    client = await create_machine_client(platform, organisation["id"], scopes=scopes)
    token = await client_credentials_token(platform, client["client_id"], client["client_secret"])
    return Actor(
        organisation_id=UUID(organisation["id"]),
        partner_type=organisation["partner_type"],
        token=token["access_token"],
        municipality_code=organisation.get("municipality_code"),
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )


async def make_cast(platform: Platform) -> Cast:
    """A brand-new partnership with one organisation per role, their users and machine clients."""
    tag = secrets.token_hex(3)
    async with _identity(platform) as identity:
        partnership = _check(
            await identity.post(
                "/v1/partnerships",
                json={"name": f"Job First {tag}", "description": "Refugees into work, paid on outcomes"},
                headers=await operator_headers(platform),
            )
        )
    partnership_id = UUID(partnership["id"])
    (
        herning,
        viborg,
        provider,
        investor,
        evaluator,
        adviser,
        observer,
        outsider,
        operator_org,
    ) = await asyncio.gather(
        create_organisation(platform, "municipality", f"Herning Kommune {tag}", municipality_code="657"),
        create_organisation(platform, "municipality", f"Viborg Kommune {tag}", municipality_code="791"),
        create_organisation(platform, "provider", f"Jobhuset {tag}"),
        create_organisation(platform, "investor", f"Fonden for Social Investering {tag}"),
        create_organisation(platform, "evaluator", f"Evalueringsinstituttet {tag}"),
        create_organisation(platform, "legal_adviser", f"Advokatfirma {tag}"),
        create_organisation(platform, "provider", f"Observatoriet {tag}"),
        create_organisation(platform, "provider", f"Udenforstående {tag}"),
        _operator_organisation(platform),
    )
    await asyncio.gather(
        add_membership(platform, partnership_id, herning["id"], "outcome_payer"),
        add_membership(platform, partnership_id, viborg["id"], "outcome_payer"),
        add_membership(platform, partnership_id, provider["id"], "provider"),
        add_membership(platform, partnership_id, investor["id"], "investor"),
        add_membership(platform, partnership_id, evaluator["id"], "evaluator"),
        add_membership(platform, partnership_id, adviser["id"], "adviser"),
        add_membership(platform, partnership_id, observer["id"], "observer"),
    )
    actors = await asyncio.gather(
        user_actor(platform, herning, "signatory", "herning-signatory"),
        user_actor(platform, viborg, "signatory", "viborg-signatory"),
        user_actor(platform, provider, "signatory", "provider-signatory"),
        user_actor(platform, investor, "signatory", "investor-signatory"),
        user_actor(platform, evaluator, "member", "evaluator-member"),
        user_actor(platform, adviser, "member", "adviser-member"),
        user_actor(platform, observer, "member", "observer-member"),
        user_actor(platform, operator_org, "admin", "operator-admin"),
        user_actor(platform, outsider, "signatory", "outsider-signatory"),
        user_actor(platform, provider, "member", "provider-member"),
        machine_actor(platform, provider),
        machine_actor(platform, investor),
    )
    return Cast(partnership_id, *actors)


async def _operator_organisation(platform: Platform) -> dict[str, Any]:
    setup = await _operator(platform)
    async with _identity(platform) as identity:
        response = await identity.get(
            f"/v1/organisations/{setup.organisation_id}", headers=await operator_headers(platform)
        )
    return dict(_check(response, 200))
