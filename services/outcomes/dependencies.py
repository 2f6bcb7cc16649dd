"""Annotated dependencies for the outcome routes: who may read or write, and the rules' collaborators."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from kit.auth import CurrentPrincipal, Principal, bearer_token, requires, scoped, scoped_any
from kit.db import DbSession
from kit.idempotency import (
    Idempotency,
    checked_key,
    idempotency_dependency,
    replay_lifetime,
    unbound_idempotency_dependency,
)
from kit.openapi import IDEMPOTENCY_KEY, reads_headers
from kit.pagination import decode_cursor
from kit.problems import BadRequest
from kit.versions import if_match_header, parse_if_match
from services.outcomes.collaborators import Deps
from services.outcomes.models import idempotency_keys
from services.outcomes.settings import Settings

OutcomeReader = Annotated[Principal, Depends(scoped("outcomes:read"))]
OutcomeWriter = Annotated[Principal, Depends(scoped("outcomes:write"))]
OutcomeVerifier = Annotated[Principal, Depends(scoped("outcomes:verify"))]
# The feed, the ledger and its export: a machine's `feed:read`, or a partner's `outcomes:read`.
FeedReader = Annotated[Principal, Depends(scoped_any("feed:read", "outcomes:read"))]
LedgerReader = Annotated[Principal, Depends(scoped_any("outcomes:read", "feed:read"))]
IdempotencyKey = Annotated[
    Idempotency, Depends(reads_headers(IDEMPOTENCY_KEY)(idempotency_dependency(idempotency_keys)))
]
# For a grouped write's route, which opens a session only when it writes alone (kit.db.request_session).
UnboundIdempotencyKey = Annotated[
    Idempotency, Depends(reads_headers(IDEMPOTENCY_KEY)(unbound_idempotency_dependency(idempotency_keys)))
]


# The dependencies below are `async def` though they never await: FastAPI runs a plain `def` dependency in
# its thread pool, a thread hop per request for a few attribute reads.
async def get_deps(request: Request) -> Deps:
    settings: Settings = request.app.state.settings
    return Deps(
        contracts=request.app.state.contracts,
        token=bearer_token(request),
        keys=request.app.state.partnership_keys,
        max_evidence_bytes=settings.max_evidence_bytes,
    )


RuleDeps = Annotated[Deps, Depends(get_deps)]


@requires(frozenset({"contracts:read"}))
async def get_registry_deps(request: Request, principal: CurrentPrincipal) -> Deps:
    """The collaborators of an operation that always reads the contract's terms. The registry is asked with
    the caller's own token (clients/contracts.py), so that it applies its rules to the caller: such an
    operation needs `contracts:read` besides its own scope, refused here before any work, and named in the
    operation's OpenAPI `security` from this very dependency."""
    principal.require_scope("contracts:read")
    return await get_deps(request)


RegistryDeps = Annotated[Deps, Depends(get_registry_deps)]


IfMatch = Annotated[str | None, if_match_header("The ETag you read; without it the write is unconditional")]


async def expected_version(if_match: IfMatch = None) -> int | None:
    """The version the client read, or None for an unconditional write."""
    return parse_if_match(if_match)


ExpectedVersion = Annotated[int | None, Depends(expected_version)]


@reads_headers(IDEMPOTENCY_KEY)
async def keyed_idempotency(request: Request, session: DbSession, principal: CurrentPrincipal) -> Idempotency:
    """Like kit's Idempotency-Key, but the request fingerprint is an HMAC under the service secret: an
    enrolment body carries a CPR number, and a plain SHA-256 of it could be brute-forced from the table."""
    key = checked_key(request)
    settings: Settings = request.app.state.settings
    mac = hmac.new(settings.secret_key.get_secret_value().encode(), digestmod=hashlib.sha256)
    for part in (
        request.method.encode(),
        request.url.path.encode(),
        request.url.query.encode(),
        await request.body(),
    ):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return Idempotency(
        table=idempotency_keys,
        session=session,
        owner=f"{principal.organisation_id}:{principal.subject}",
        key=key,
        fingerprint=mac.hexdigest(),
        lifetime=replay_lifetime(request),
    )


KeyedIdempotencyKey = Annotated[Idempotency, Depends(keyed_idempotency)]


def cursor_after(cursor: str | None) -> UUID | None:
    """The id a page cursor continues after."""
    if cursor is None:
        return None
    try:
        return UUID(decode_cursor(cursor, 1)[0])
    except ValueError:
        raise BadRequest.field("cursor", "not a cursor this API issued") from None


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}
