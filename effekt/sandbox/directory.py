"""The bootstrap operator's calls to identity's directory: organisations, users, machine clients and
memberships, and tokens for what they make.

The operator is the client identity ensures on start-up from `IDENTITY_BOOTSTRAP_OPERATOR_*`, read from
`platform.env`. Its token is fetched once per platform and renewed before it expires; its calls share one
keep-alive client per platform and event loop (cookie-free: a sign-in, which carries a CSRF cookie, gets a
client of its own, as each browser would). A public code-flow client, "the web UI", is registered the
first time a person signs in without naming one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx

from effekt.launcher import Platform
from effekt.sandbox import identifiers
from effekt.sandbox.http import expect, new_client
from effekt.sandbox.signin import (
    MACHINE_SCOPES,
    REDIRECT_URI,
    USER_SCOPES,
    bearer,
    claims_of,
    client_credentials,
    sign_in,
)

PASSWORD = "Correct-Horse-Battery-9"  # noqa: S105 - every sandbox user's, unless it is given another


@dataclass
class _Loop:
    """What is bound to one event loop: the keep-alive clients (by base URL) and the set-up locks (so the
    first calls of a cast, made at once, fetch one operator token and register one web UI)."""

    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    operator_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    web_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class _Operator:
    token: str
    organisation_id: UUID


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = weakref.WeakKeyDictionary()
# By identity URL and operator client: a later platform on a port an earlier one used is another identity.
_operators: dict[tuple[str, str], _Operator] = {}
_web_clients: dict[tuple[str, str], str] = {}  # -> the web UI's client id


def _loop() -> _Loop:
    running = asyncio.get_running_loop()
    state = _loops.get(running)
    if state is None:
        state = _loops[running] = _Loop()
    return state


def _platform_key(platform: Platform) -> tuple[str, str]:
    return platform.url("identity"), platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"]


def identity_client(platform: Platform) -> httpx.AsyncClient:
    """The shared keep-alive client for identity (never closed by its users; see `close_clients`)."""
    url = platform.url("identity")
    clients = _loop().clients
    client = clients.get(url)
    if client is None or client.is_closed:
        client = clients[url] = new_client(url, timeout=30.0)
    return client


async def close_clients() -> None:
    """Close this event loop's shared clients (before the loop ends)."""
    clients = list(_loop().clients.values())
    _loop().clients.clear()
    for client in clients:
        await client.aclose()


# --- tokens -----------------------------------------------------------------------------------------------


async def client_credentials_token(
    platform: Platform, client_id: str, client_secret: str, scopes: str | None = None
) -> dict[str, Any]:
    return await client_credentials(identity_client(platform), client_id, client_secret, scopes)


async def user_token(
    platform: Platform,
    email: str,
    password: str,
    *,
    scopes: str = USER_SCOPES,
    client_id: str | None = None,
) -> dict[str, Any]:
    """A person's token response through the code flow (with the web UI's client unless another)."""
    return await sign_in(
        platform.url("identity"),
        client_id=client_id or await web_client_id(platform),
        email=email,
        password=password,
        scopes=scopes,
    )


async def _operator(platform: Platform) -> _Operator:
    key = _platform_key(platform)
    async with _loop().operator_lock:
        operator = _operators.get(key)
        # Operator tokens live 15 minutes; a test session or a bench run lasts longer.
        if operator is None or claims_of(operator.token)["exp"] - 60 < time.time():
            token = await client_credentials_token(
                platform,
                platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"],
                platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET"],
            )
            access = token["access_token"]
            operator = _operators[key] = _Operator(access, UUID(claims_of(access)["org_id"]))
    return operator


async def operator_token(platform: Platform) -> str:
    return (await _operator(platform)).token


async def operator_headers(platform: Platform) -> dict[str, str]:
    return bearer(await operator_token(platform))


async def create_web_client(platform: Platform, name: str, redirect_uri: str) -> dict[str, Any]:
    """A public code-flow client owned by the operator (a web UI for any organisation's users)."""
    operator = await _operator(platform)
    body = {
        "name": name,
        "client_type": "public",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": USER_SCOPES.split(),
    }
    return await _post(platform, f"/v1/organisations/{operator.organisation_id}/clients", body)


async def web_client_id(platform: Platform) -> str:
    """The web UI's client (registered once per platform), which the sandbox's people sign in with."""
    key = _platform_key(platform)
    async with _loop().web_lock:
        if key not in _web_clients:
            web = await create_web_client(platform, "Effekt web (sandbox)", REDIRECT_URI)
            _web_clients[key] = web["client_id"]
    return _web_clients[key]


# --- making organisations, users, clients and memberships -------------------------------------------------


def unique_email(label: str, domain: str = "example.dk") -> str:
    # Twelve hex digits, not ten: ten could all be decimal digits, a CPR-shaped number in every table and log
    # line that names the user (the suite's privacy scan, tests/privacy_scan.py, found one in a hundred).
    return f"{label}-{secrets.token_hex(6)}@{domain}"


async def _post(platform: Platform, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await identity_client(platform).post(path, json=body, headers=await operator_headers(platform))
    return dict(expect(response, 201))


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
    body |= {"identifier": identifier} if identifier is not None else {"cvr": identifiers.cvr()}
    if municipality_code is not None:
        body["municipality_code"] = municipality_code
    return await _post(platform, "/v1/organisations", body)


async def operator_organisation(platform: Platform) -> dict[str, Any]:
    operator = await _operator(platform)
    response = await identity_client(platform).get(
        f"/v1/organisations/{operator.organisation_id}", headers=bearer(operator.token)
    )
    return dict(expect(response, 200))


async def create_user(
    platform: Platform,
    organisation_id: UUID | str,
    org_role: str,
    *,
    label: str = "user",
    email: str | None = None,
    display_name: str | None = None,
    password: str = PASSWORD,
) -> tuple[dict[str, Any], str, str]:
    """A user made by the operator; returns (user, email, password)."""
    email = email or unique_email(label)
    body = {
        "email": email,
        "display_name": display_name or label.replace("-", " ").title(),
        "org_role": org_role,
        "password": password,
    }
    return await _post(platform, f"/v1/organisations/{organisation_id}/users", body), email, password


async def create_machine_client(
    platform: Platform, organisation_id: UUID | str, *, scopes: str = MACHINE_SCOPES, name: str = "machine"
) -> dict[str, Any]:
    """A confidential client-credentials client; the answer includes `client_secret`."""
    body = {
        "name": name,
        "client_type": "confidential",
        "grant_types": ["client_credentials"],
        "scopes": scopes.split(),
    }
    return await _post(platform, f"/v1/organisations/{organisation_id}/clients", body)


async def create_partnership(platform: Platform, name: str, description: str) -> dict[str, Any]:
    return await _post(platform, "/v1/partnerships", {"name": name, "description": description})


async def add_membership(
    platform: Platform, partnership_id: UUID | str, organisation_id: UUID | str, role: str
) -> dict[str, Any]:
    body = {"organisation_id": str(organisation_id), "role": role}
    return await _post(platform, f"/v1/partnerships/{partnership_id}/memberships", body)


async def remove_membership(
    platform: Platform, partnership_id: UUID, organisation_id: UUID, role: str | None = None
) -> None:
    """The operator ends an organisation's membership (its only one, or the one with `role`) in a
    partnership; identity supersedes its tokens."""
    identity, headers = identity_client(platform), await operator_headers(platform)
    listed = await identity.get(
        "/v1/memberships",
        params={"partnership_id": str(partnership_id), "organisation_id": str(organisation_id)},
        headers=headers,
    )
    (membership,) = [m for m in expect(listed, 200)["items"] if role is None or m["role"] == role]
    expect(
        await identity.delete(
            f"/v1/partnerships/{partnership_id}/memberships/{membership['id']}", headers=headers
        ),
        204,
    )
