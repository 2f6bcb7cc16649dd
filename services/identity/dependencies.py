"""FastAPI dependencies of the identity service: the caller (verified against the service's own keys,
revoked tokens and token epochs), scope-checked aliases, Idempotency-Key handling, and If-Match parsing."""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import exists, select

from kit.auth import CurrentPrincipal, Principal, bearer_token, requires
from kit.db import DbSession
from kit.problems import PreconditionRequired, Unauthorized
from kit.versions import if_match_header, parse_if_match
from services.identity.models import SigningKey
from services.identity.oauth.keys import SigningKeys, published_key_filter
from services.identity.oauth.scopes import REVOCATIONS_SCOPE
from services.identity.replays import SealingIdempotency, sealing_idempotency
from services.identity.revocations.service import standing_of
from services.identity.settings import Settings


def _key_id(request: Request) -> str:
    segment = bearer_token(request).split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return str(header["kid"])


async def caller(request: Request, principal: CurrentPrincipal, session: DbSession) -> Principal:
    """The verified caller, unless its token was revoked, or superseded by a change to its organisation,
    client or user (a token epoch moved past it), or its signing key was retired since the verifier cached
    the key. Identity reads all of these from its own tables, so it refuses such a token at once; the other
    processes learn of revocations from the list they poll (kit/revocations.py, within seconds) and of a
    retired key when their verifier next reloads the JWKS."""
    published = exists().where(SigningKey.kid == _key_id(request), published_key_filter())
    is_published, is_revoked, is_superseded = (
        await session.execute(select(published, *standing_of(principal)))
    ).one()
    if not is_published:
        raise Unauthorized("token signed by a retired key")
    if is_revoked:
        raise Unauthorized("this token was revoked")
    if is_superseded:
        raise Unauthorized("this token predates a change to its organisation, client or user; get a new one")
    return principal


Caller = Annotated[Principal, Depends(caller)]


def _scoped(scope: str):  # type: ignore[no-untyped-def]
    @requires(frozenset({scope}))  # what the OpenAPI document names as this operation's scope
    async def dependency(principal: Caller) -> Principal:
        principal.require_scope(scope)
        return principal

    return dependency


PartnerReader = Annotated[Principal, Depends(_scoped("partners:read"))]
PartnerWriter = Annotated[Principal, Depends(_scoped("partners:write"))]
AuditReader = Annotated[Principal, Depends(_scoped("audit:read"))]
OpenIdCaller = Annotated[Principal, Depends(_scoped("openid"))]
RevocationListReader = Annotated[Principal, Depends(_scoped(REVOCATIONS_SCOPE))]
# Keyed fingerprints, sealed secrets and expiring replays for every write (services/identity/replays.py).
IdempotencyKey = Annotated[SealingIdempotency, Depends(sealing_idempotency)]


def expected_version(
    if_match: Annotated[str | None, if_match_header("The ETag you read (required)")] = None,
) -> int:
    """The version an update expects; required, so that no update overwrites a change its sender never
    saw."""
    version = parse_if_match(if_match)
    if version is None:
        raise PreconditionRequired("send If-Match with the ETag you read")
    return version


ExpectedVersion = Annotated[int, Depends(expected_version)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_signing_keys(request: Request) -> SigningKeys:
    ring: SigningKeys = request.app.state.signing_keys
    return ring


CurrentSettings = Annotated[Settings, Depends(get_settings)]
Keys = Annotated[SigningKeys, Depends(get_signing_keys)]
