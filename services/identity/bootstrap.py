"""Start-up state: the signing key ring, the secret-hashing key, the first signing key, the first
operator (an operator organisation and a confidential client from `IDENTITY_BOOTSTRAP_OPERATOR_*`),
so that a fresh platform has someone allowed to create everything else, and the clients the platform's
own services read the revocation list with (`IDENTITY_REVOCATION_READERS`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import TokenVerifier
from kit.settings import InsecureConfiguration
from services.identity.audit import record, snapshot
from services.identity.credentials import Passwords, hash_secret
from services.identity.directory.identifiers import cvr_identifier
from services.identity.models import OAuthClient, Organisation
from services.identity.oauth.keys import SigningKeys, derive_key, published_jwks
from services.identity.oauth.scopes import REVOCATIONS_SCOPE, SCOPES, USER_ONLY_SCOPES
from services.identity.replays import ReplayKeys
from services.identity.settings import Settings

log = structlog.get_logger(__name__)


async def _operator_organisation(session: AsyncSession, settings: Settings) -> Organisation:
    organisation = await session.scalar(
        select(Organisation).where(Organisation.cvr == settings.bootstrap_operator_cvr)
    )
    if organisation is None:
        organisation = Organisation(
            name="Effekt platform operator",
            partner_type="operator",
            identifier=cvr_identifier(settings.bootstrap_operator_cvr),
            cvr=settings.bootstrap_operator_cvr,
        )
        session.add(organisation)
        await session.flush()
        await session.refresh(organisation)
        await record(
            session,
            None,
            "organisation.created",
            organisation,
            organisation_id=organisation.id,
            after=snapshot(organisation),
        )
    return organisation


async def _ensure_client(
    session: AsyncSession,
    settings: Settings,
    *,
    client_id: str,
    secret_hash: str,
    name: str,
    scopes: list[str],
    owned_by_us: Callable[[OAuthClient], bool] = lambda _: True,
) -> None:
    """Create (or re-key) a confidential client-credentials client of the operator organisation."""
    client = await session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == client_id).with_for_update()
    )
    if client is not None:
        if not owned_by_us(client):
            raise InsecureConfiguration(f"client {client_id!r} exists and is not one identity ensures")
        client.secret_hash = secret_hash
        return
    organisation = await _operator_organisation(session, settings)
    client = OAuthClient(
        client_id=client_id,
        organisation_id=organisation.id,
        name=name,
        client_type="confidential",
        secret_hash=secret_hash,
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=scopes,
    )
    session.add(client)
    await session.flush()
    await session.refresh(client)
    await record(
        session, None, "client.created", client, organisation_id=organisation.id, after=snapshot(client)
    )
    log.info("bootstrap_client_created", client_id=client_id, organisation_id=str(organisation.id))


async def ensure_operator(session: AsyncSession, settings: Settings, hash_key: bytes) -> None:
    """Create (or re-key) the bootstrap operator client; idempotent across restarts and replicas."""
    client_id = settings.bootstrap_operator_client_id
    secret = settings.bootstrap_operator_client_secret
    if not client_id or secret is None:
        return
    await _ensure_client(
        session,
        settings,
        client_id=client_id,
        secret_hash=hash_secret(hash_key, secret.get_secret_value()),
        name="Bootstrap operator",
        scopes=[s for s in SCOPES if s not in USER_ONLY_SCOPES],
    )


async def ensure_revocation_readers(session: AsyncSession, settings: Settings, hash_key: bytes) -> None:
    """Create (or re-key) a client per service that polls the revocation list, holding only that scope.
    An id that names any other client is refused: re-keying it would hand its powers to whoever holds the
    service's secret."""
    for client_id, secret in sorted(settings.revocation_readers.items()):
        await _ensure_client(
            session,
            settings,
            client_id=client_id,
            secret_hash=hash_secret(hash_key, secret.get_secret_value()),
            name=f"Revocation list reader {client_id}",
            scopes=[REVOCATIONS_SCOPE],
            owned_by_us=lambda row: row.scopes == [REVOCATIONS_SCOPE],
        )


async def ensure_graphiql_client(session: AsyncSession, settings: Settings) -> None:
    """The gateway GraphiQL's public client (PKCE, no secret): created, or its redirect URIs kept current.
    An id that names a confidential client is refused, as for the readers."""
    if not settings.graphiql_redirect_uris:
        return
    client = await session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == settings.graphiql_client_id).with_for_update()
    )
    if client is not None:
        if client.client_type != "public":
            raise InsecureConfiguration(f"client {client.client_id!r} exists and is not one identity ensures")
        client.redirect_uris = list(settings.graphiql_redirect_uris)
        return
    organisation = await _operator_organisation(session, settings)
    client = OAuthClient(
        client_id=settings.graphiql_client_id,
        organisation_id=organisation.id,
        name="Effekt GraphiQL",
        client_type="public",
        secret_hash=None,
        redirect_uris=list(settings.graphiql_redirect_uris),
        grant_types=["authorization_code", "refresh_token"],
        scopes=list(SCOPES),
    )
    session.add(client)
    await session.flush()
    await session.refresh(client)
    await record(
        session, None, "client.created", client, organisation_id=organisation.id, after=snapshot(client)
    )


def check_revocation_readers(settings: Settings) -> None:
    """Production refuses to start unless every other process can read the revocation list."""
    if not settings.production:
        return
    if not settings.revocation_readers:
        raise InsecureConfiguration(
            "refusing to start in production without IDENTITY_REVOCATION_READERS: without them the other "
            "services honour revoked tokens until they expire (docs/identity.md)"
        )
    readers = settings.revocation_readers
    short = [cid for cid, secret in readers.items() if len(secret.get_secret_value()) < 32]
    if short:
        raise InsecureConfiguration(f"refusing short revocation reader secrets: {', '.join(sorted(short))}")


@asynccontextmanager
async def identity_state(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    secret = settings.secret_key.get_secret_value()
    ring = SigningKeys(secret)
    hash_key = derive_key(secret, b"secret-hashes")
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    app.state.signing_keys = ring
    app.state.hash_key = hash_key
    app.state.replay_keys = ReplayKeys.from_secret(
        secret, lifetime=timedelta(seconds=settings.idempotency_replay_seconds)
    )
    app.state.passwords = Passwords(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    check_revocation_readers(settings)
    for _attempt in range(3):  # replicas starting together may race on the same rows
        try:
            async with sessionmaker() as session, session.begin():
                await ring.ensure_active(session)
                await ensure_operator(session, settings, hash_key)
                await ensure_revocation_readers(session, settings, hash_key)
                await ensure_graphiql_client(session, settings)
            break
        except IntegrityError:
            log.info("bootstrap_race_retry")

    async def own_keys() -> dict[str, object]:
        async with sessionmaker() as session:
            return await published_jwks(session)

    # Identity verifies its own tokens from its own table: no HTTP round trip to itself, and a rotation
    # is seen at once (an unknown kid always re-reads).
    app.state.token_verifier = TokenVerifier(
        issuer=settings.issuer, audience=settings.audience, fetch_jwks=own_keys, min_refresh=0
    )
    yield
