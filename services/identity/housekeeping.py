"""Deletes what can no longer matter: expired authorisation codes, refresh tokens long past expiry, and
revocation records of access tokens that have expired anyway; marks retiring keys retired once their last
token has expired. Runs in every replica (the deletes are idempotent)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import FastAPI
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.identity.models import AuthorizationCode, RefreshToken, RevokedToken, SigningKey

log = structlog.get_logger(__name__)
INTERVAL_SECONDS = 3600
# Spent refresh tokens are kept a while after expiry so that a late replay is still recognised as one.
REFRESH_TOKEN_GRACE = timedelta(days=7)


async def purge_expired(session: AsyncSession) -> dict[str, int]:
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    for name, statement in (
        ("authorization_codes", delete(AuthorizationCode).where(AuthorizationCode.expires_at < now)),
        ("refresh_tokens", delete(RefreshToken).where(RefreshToken.expires_at < now - REFRESH_TOKEN_GRACE)),
        ("revoked_tokens", delete(RevokedToken).where(RevokedToken.expires_at < now)),
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

    async def loop() -> None:
        while True:
            await asyncio.sleep(INTERVAL_SECONDS)
            try:
                async with sessionmaker() as session, session.begin():
                    log.info("identity_purged", **await purge_expired(session))
            except Exception:
                log.exception("identity_purge_failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
