"""Housekeeping deletes expired grants and revocation records, and nothing still alive (a revocation lives
a little past its token's expiry: verifiers accept a token that long past `exp`)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from effekt.launcher import Platform
from effekt.sandbox.directory import create_organisation, create_user
from services.identity.housekeeping import purge_expired
from services.identity.models import AuthorizationCode, RefreshToken, RevokedToken, SupersededTokens


async def test_purge_removes_only_what_has_expired(platform: Platform) -> None:
    organisation = await create_organisation(platform, "provider", "Tidy")
    user, _, _ = await create_user(platform, organisation["id"], "member", label="tidy")
    user_id = uuid.UUID(user["id"])
    now = datetime.now(UTC)
    engine = create_async_engine(platform.database_urls["identity"])  # type: ignore[attr-defined]
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def code(expires_at: datetime) -> AuthorizationCode:
        return AuthorizationCode(
            code_hash=secrets.token_hex(32),
            client_id="c",
            user_id=user_id,
            redirect_uri="",
            scope="openid",
            code_challenge="x" * 43,
            code_challenge_method="S256",
            expires_at=expires_at,
        )

    def refresh(expires_at: datetime) -> RefreshToken:
        return RefreshToken(
            token_hash=secrets.token_hex(32),
            family_id=uuid.uuid4(),
            client_id="c",
            user_id=user_id,
            scope="openid",
            expires_at=expires_at,
        )

    old_code, new_code = code(now - timedelta(minutes=1)), code(now + timedelta(minutes=1))
    # A refresh token expired a day ago is kept (a late replay must still be recognised); a week, not.
    old_refresh, new_refresh = refresh(now - timedelta(days=8)), refresh(now - timedelta(days=1))
    old_jti = RevokedToken(jti=secrets.token_hex(16), expires_at=now - timedelta(minutes=3))
    just_expired_jti = RevokedToken(jti=secrets.token_hex(16), expires_at=now - timedelta(seconds=1))
    new_jti = RevokedToken(jti=secrets.token_hex(16), expires_at=now + timedelta(minutes=5))
    # Superseded floors matter while a token issued before them can be alive: 15 minutes and a margin.
    old_floor = SupersededTokens(
        kind="user", subject=str(uuid.uuid4()), epoch=1, superseded_at=now - timedelta(minutes=18)
    )
    new_floor = SupersededTokens(
        kind="user", subject=str(uuid.uuid4()), epoch=1, superseded_at=now - timedelta(minutes=15)
    )
    # An organisation's floor also settles webhook subscriptions, which outlive tokens: kept for 30 days.
    organisation_floor = SupersededTokens(
        kind="organisation", subject=str(uuid.uuid4()), epoch=1, superseded_at=now - timedelta(days=29)
    )
    gone_organisation_floor = SupersededTokens(
        kind="organisation", subject=str(uuid.uuid4()), epoch=1, superseded_at=now - timedelta(days=31)
    )
    organisation_floors = [organisation_floor, gone_organisation_floor]
    floors = [old_floor.subject, new_floor.subject, *(f.subject for f in organisation_floors)]
    try:
        async with sessions() as session, session.begin():
            session.add_all([old_code, new_code, old_refresh, new_refresh, old_floor, new_floor])
            session.add_all(organisation_floors)
            session.add_all([old_jti, just_expired_jti, new_jti])
        async with sessions() as session, session.begin():
            await purge_expired(session, access_token_lifetime=timedelta(minutes=15))
        async with sessions() as session:
            codes = set(
                await session.scalars(
                    select(AuthorizationCode.code_hash).where(AuthorizationCode.user_id == user_id)
                )
            )
            tokens = set(
                await session.scalars(select(RefreshToken.token_hash).where(RefreshToken.user_id == user_id))
            )
            jtis = set(
                await session.scalars(
                    select(RevokedToken.jti).where(
                        RevokedToken.jti.in_([old_jti.jti, just_expired_jti.jti, new_jti.jti])
                    )
                )
            )
            kept_floors = set(
                await session.scalars(
                    select(SupersededTokens.subject).where(SupersededTokens.subject.in_(floors))
                )
            )
    finally:
        await engine.dispose()
    assert codes == {new_code.code_hash}
    assert tokens == {new_refresh.token_hash}
    assert jtis == {just_expired_jti.jti, new_jti.jti}
    assert kept_floors == {new_floor.subject, organisation_floor.subject}
