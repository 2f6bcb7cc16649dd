"""Password login for the authorisation page, with throttling: after `max_failures` wrong passwords in a
row an account is locked, first for `lock_seconds`, doubling with every further failure. A disabled
account is refused even with the right password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.audit import record
from services.identity.credentials import Passwords
from services.identity.models import User


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    error: str | None = None
    locked_for: int | None = None


async def log_in(
    session: AsyncSession,
    passwords: Passwords,
    email: str,
    password: str,
    *,
    max_failures: int,
    lock_seconds: int,
) -> LoginOutcome:
    """Check the credentials; the failure count is written in the caller's transaction, which commits."""
    user = await session.scalar(
        select(User).where(func.lower(User.email) == email.strip().lower()).with_for_update()
    )
    now = datetime.now(UTC)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        return LoginOutcome(None, "Too many failed attempts. Try again later.", locked_for=wait)
    if await passwords.verify(user.password_hash if user else None, password) and user is not None:
        if user.disabled_at is not None:
            return LoginOutcome(None, "This account is disabled; ask your organisation's admin.")
        user.failed_logins = 0
        user.locked_until = None
        await session.flush()
        return LoginOutcome(user)
    if user is not None:
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            backoff = lock_seconds * 2 ** min(user.failed_logins - max_failures, 10)
            user.locked_until = now + timedelta(seconds=backoff)
            await record(
                session,
                None,
                "user.locked",
                user,
                organisation_id=user.organisation_id,
                after={"failed_logins": user.failed_logins, "locked_until": user.locked_until.isoformat()},
            )
        await session.flush()
    return LoginOutcome(None, "Wrong e-mail address or password.")
