"""The rules for registering OAuth2 clients. Functions flush, never commit."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.pagination import DEFAULT_LIMIT, Page
from kit.problems import Unprocessable
from services.identity.applications import schemas
from services.identity.audit import record, snapshot
from services.identity.credentials import hash_secret, mint_secret
from services.identity.directory.service import paginate, require_admin_of
from services.identity.errors import ClientNotFound, InvalidRedirectUri, OrganisationNotFound, ScopeNotAllowed
from services.identity.models import OAuthClient, Organisation
from services.identity.oauth.scopes import SCOPES, SERVICE_SCOPES, USER_ONLY_SCOPES
from services.identity.revocations.service import supersede_tokens


def readable_clients(principal: Principal) -> Select[OAuthClient]:
    """Operators see every client; everyone else their own organisation's."""
    query = select(OAuthClient)
    if principal.is_operator:
        return query
    return query.where(OAuthClient.organisation_id == principal.organisation_id)


async def list_clients(
    session: AsyncSession,
    principal: Principal,
    *,
    organisation_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[OAuthClient]:
    query = readable_clients(principal)
    if organisation_id is not None:
        query = query.where(OAuthClient.organisation_id == organisation_id)
    return await paginate(session, query, OAuthClient, cursor=cursor, limit=limit)


async def get_client(session: AsyncSession, principal: Principal, client_id: uuid.UUID) -> OAuthClient:
    row = await session.scalar(readable_clients(principal).where(OAuthClient.id == client_id))
    if row is None:
        raise ClientNotFound(f"no client {client_id}")
    return row


def _check_redirect_uri(index: int, uri: str) -> None:
    parts = urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        parts.fragment
        or not parts.hostname
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    ):
        raise InvalidRedirectUri.field(
            f"body.redirect_uris.{index}",
            "must be an absolute https URI (http only on loopback), no fragment",
        )


def _check_client(data: schemas.ClientCreate) -> None:
    for index, scope in enumerate(data.scopes):
        if scope in SERVICE_SCOPES:
            raise ScopeNotAllowed.field(
                f"body.scopes.{index}", f"{scope!r} is reserved for the platform's own services"
            )
        if scope not in SCOPES:
            raise ScopeNotAllowed.field(f"body.scopes.{index}", f"unknown scope {scope!r}")
    if data.client_type == "public" and "client_credentials" in data.grant_types:
        raise Unprocessable.field("body.grant_types", "a public client cannot use client_credentials")
    if "refresh_token" in data.grant_types and "authorization_code" not in data.grant_types:
        raise Unprocessable.field("body.grant_types", "refresh_token needs authorization_code")
    if "authorization_code" in data.grant_types and not data.redirect_uris:
        raise InvalidRedirectUri.field("body.redirect_uris", "the code flow needs at least one")
    if data.grant_types == ["client_credentials"]:
        person_only = set(data.scopes) & USER_ONLY_SCOPES
        if person_only:
            raise ScopeNotAllowed.field("body.scopes", f"a machine client cannot hold {sorted(person_only)}")
    for index, uri in enumerate(data.redirect_uris):
        _check_redirect_uri(index, uri)


async def create_client(
    session: AsyncSession,
    principal: Principal,
    organisation_id: uuid.UUID,
    data: schemas.ClientCreate,
    *,
    hash_key: bytes,
) -> tuple[OAuthClient, str | None]:
    """A new client, and its secret (returned once) if it is confidential."""
    require_admin_of(principal, organisation_id)
    if await session.get(Organisation, organisation_id) is None:
        raise OrganisationNotFound(f"no organisation {organisation_id}")
    _check_client(data)
    secret = mint_secret() if data.client_type == "confidential" else None
    row = OAuthClient(
        client_id=f"ek_{secrets.token_urlsafe(18)}",
        organisation_id=organisation_id,
        name=data.name,
        client_type=data.client_type,
        secret_hash=hash_secret(hash_key, secret) if secret else None,
        redirect_uris=list(dict.fromkeys(data.redirect_uris)),
        grant_types=list(dict.fromkeys(data.grant_types)),
        scopes=list(dict.fromkeys(data.scopes)),
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(
        session, principal, "client.created", row, organisation_id=organisation_id, after=snapshot(row)
    )
    return row, secret


async def disable_client(session: AsyncSession, principal: Principal, client_id: uuid.UUID) -> OAuthClient:
    row = await get_client(session, principal, client_id)
    require_admin_of(principal, row.organisation_id)
    await session.refresh(row, with_for_update=True)
    if row.disabled_at is None:
        before = snapshot(row)
        row.disabled_at = datetime.now(UTC)
        await session.flush()
        await supersede_tokens(session, "client", row.client_id)
        await record(
            session,
            principal,
            "client.disabled",
            row,
            organisation_id=row.organisation_id,
            before=before,
            after=snapshot(row),
        )
    return row
