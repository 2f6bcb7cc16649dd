"""Deletes what can no longer matter: expired authorisation codes, refresh tokens long past expiry,
revocation records of access tokens (and of sign-ins) that have expired anyway, superseded-token floors
older than any token they could refuse (an organisation's after 30 days: webhook subscriptions are
settled from them), stored `Idempotency-Key` replays past their lifetime (services/identity/replays.py)
and sign-in counters a day after their last failure (services/identity/oauth/login.py);
marks retiring keys retired once their last token has expired. Runs in every replica (the deletes are
idempotent)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import FastAPI
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.identity.models import (
    AuthorizationCode,
    RefreshToken,
    RevokedFamily,
    RevokedToken,
    SigningKey,
    SignInThrottle,
    SupersededTokens,
    idempotency_keys,
)
from services.identity.oauth.login import FORGET_AFTER
from services.identity.revocations.service import KEEP_PAST_EXPIRY, still_listed
from services.identity.settings import Settings

log = structlog.get_logger(__name__)
INTERVAL_SECONDS = 3600
# Spent refresh tokens are kept a while after expiry so that a late replay is still recognised as one.
REFRESH_TOKEN_GRACE = timedelta(days=7)


async def purge_expired(
    session: AsyncSession,
    *,
    access_token_lifetime: timedelta,
    idempotency_replay_lifetime: timedelta = timedelta(hours=24),
) -> dict[str, int]:
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    # Revocations outlive their tokens a little (KEEP_PAST_EXPIRY): verifiers accept a token past `exp`.
    for name, statement in (
        ("authorization_codes", delete(AuthorizationCode).where(AuthorizationCode.expires_at < now)),
        ("refresh_tokens", delete(RefreshToken).where(RefreshToken.expires_at < now - REFRESH_TOKEN_GRACE)),
        ("revoked_tokens", delete(RevokedToken).where(RevokedToken.expires_at < now - KEEP_PAST_EXPIRY)),
        (
            "revoked_families",
            delete(RevokedFamily).where(
                RevokedFamily.revoked_at < now - access_token_lifetime - KEEP_PAST_EXPIRY
            ),
        ),
        (
            "superseded_tokens",
            delete(SupersededTokens).where(~still_listed(now, access_token_lifetime)),
        ),
        (
            "idempotency_keys",
            delete(idempotency_keys).where(idempotency_keys.c.created_at < now - idempotency_replay_lifetime),
        ),
        (
            "sign_in_throttles",
            delete(SignInThrottle).where(
                SignInThrottle.since < now - FORGET_AFTER,
                or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until < now),
            ),
        ),
        (
            "signing_keys",
            update(SigningKey)
            .where(SigningKey.status == "retiring", SigningKey.retire_after < now)
            .values(status="retired"),
        ),
    ):
        result = await session.execute(statement)
        counts[name] = int(getattr(result, "rowcount", 0) or 0)
    return counts


@asynccontextmanager
async def housekeeping(app: FastAPI) -> AsyncIterator[None]:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    settings: Settings = app.state.settings
    lifetime = timedelta(seconds=settings.access_token_lifetime)
    replay_lifetime = timedelta(seconds=settings.idempotency_replay_seconds)

    async def loop() -> None:
        while True:
            await asyncio.sleep(INTERVAL_SECONDS)
            try:
                async with sessionmaker() as session, session.begin():
                    counts = await purge_expired(
                        session, access_token_lifetime=lifetime, idempotency_replay_lifetime=replay_lifetime
                    )
                    log.info("identity_purged", **counts)
            except Exception:
                log.exception("identity_purge_failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
