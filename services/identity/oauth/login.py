"""Password sign-in for the authorisation page, and the throttles in front of it.

Three counters of failed sign-ins, each a row of `sign_in_throttles`:

- **account**, per e-mail address (a keyed hash of it, whether or not a user has it): after
  `max_failures` wrong passwords in a row the address is locked for `lock_seconds`, doubling with each
  further failure; a successful sign-in or a password change clears it. Known and unknown addresses are
  counted, locked and answered alike: the same status, page and `Retry-After`, and one password hash per
  attempt (against a dummy hash for an unknown address), so no answer tells whether an account exists.
- **address**, per source address (the peer uvicorn reports; behind a proxy in
  `--forwarded-allow-ips`, the client it forwards for): `address_max_failures` failures per `window`.
- **client**, per OAuth client: `client_max_failures` failures per `window`, a ceiling for attacks spread
  over many addresses.

While any of the three is locked an attempt is refused before a password is hashed (`429` with
`Retry-After`): the argon2 work an attacker can cause is bounded per address and per client. Only
failures count; a success costs nobody a try.

The counters are in PostgreSQL, not in the process: every replica sees the same counts (in-process
counters would multiply each limit by the number of replicas and forget it at every restart), a failed
attempt already writes, and the check is one primary-key read. Housekeeping forgets a counter a day after
its last failure once it is not locked. A disabled account is refused even with the right password.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Interval, case, delete, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.audit import record
from services.identity.credentials import Passwords, hash_secret
from services.identity.models import SignInThrottle, User
from services.identity.settings import Settings

# Why a sign-in failed, as keys the page words in the reader's language (`pages.py`).
LOCKED = "locked"
WRONG = "wrong"
DISABLED = "disabled"
# A counter is forgotten this long after its last failure, once it is not locked (housekeeping).
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class SignInRules:
    max_failures: int
    lock_seconds: int
    address_max_failures: int
    client_max_failures: int
    window_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInRules:
        return cls(
            max_failures=settings.login_max_failures,
            lock_seconds=settings.login_lock_seconds,
            address_max_failures=settings.login_address_max_failures,
            client_max_failures=settings.login_client_max_failures,
            window_seconds=settings.login_throttle_window_seconds,
        )


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    error: str | None = None
    locked_for: int | None = None


def account_key(hash_key: bytes, email: str) -> str:
    """The account counter's key: a keyed hash, so the table holds no address anyone typed."""
    return hash_secret(hash_key, email.strip().lower())


async def clear_account_lock(session: AsyncSession, hash_key: bytes, email: str) -> None:
    await session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.kind == "account", SignInThrottle.key == account_key(hash_key, email)
        )
    )


async def _count_account_failure(
    session: AsyncSession, key: str, now: datetime, rules: SignInRules
) -> datetime | None:
    """One more wrong password in a row for the address; the lock it now carries, if any."""
    table = SignInThrottle.__table__
    at = literal(now, DateTime(timezone=True))
    failures = table.c.failures + 1
    backoff = literal(timedelta(seconds=rules.lock_seconds)) * func.power(
        2, func.least(failures - rules.max_failures, 10)
    )
    first_lock = now + timedelta(seconds=rules.lock_seconds) if rules.max_failures <= 1 else None
    locked_until: datetime | None = await session.scalar(
        insert(SignInThrottle)
        .values(kind="account", key=key, failures=1, since=now, locked_until=first_lock)
        .on_conflict_do_update(
            index_elements=[SignInThrottle.kind, SignInThrottle.key],
            set_={
                "failures": failures,
                "since": now,
                "locked_until": case((failures >= rules.max_failures, at + backoff), else_=None),
            },
        )
        .returning(table.c.locked_until)
    )
    return locked_until


async def _count_windowed_failure(
    session: AsyncSession, kind: str, key: str, now: datetime, *, limit: int, window: timedelta
) -> None:
    """One more failure in the current window of `kind`'s counter (a new window once the last ended)."""
    table = SignInThrottle.__table__
    at = literal(now, DateTime(timezone=True))
    ended = table.c.since <= at - literal(window, Interval())
    failures = case((ended, 1), else_=table.c.failures + 1)
    since = case((ended, at), else_=table.c.since)
    await session.execute(
        insert(SignInThrottle)
        .values(kind=kind, key=key, failures=1, since=now, locked_until=now + window if limit <= 1 else None)
        .on_conflict_do_update(
            index_elements=[SignInThrottle.kind, SignInThrottle.key],
            set_={
                "failures": failures,
                "since": since,
                "locked_until": case((failures >= limit, since + literal(window, Interval())), else_=None),
            },
        )
    )


async def log_in(
    session: AsyncSession,
    passwords: Passwords,
    email: str,
    password: str,
    *,
    hash_key: bytes,
    address: str,
    client_id: str,
    rules: SignInRules,
) -> LoginOutcome:
    """Check the credentials; the counters are written in the caller's transaction, which commits."""
    now = datetime.now(UTC)
    account = account_key(hash_key, email)
    counters = [("account", account), ("address", address[:100]), ("client", client_id[:100])]
    locked_until = await session.scalar(
        select(func.max(SignInThrottle.locked_until)).where(
            tuple_(SignInThrottle.kind, SignInThrottle.key).in_(counters),
            SignInThrottle.locked_until > now,
        )
    )
    if locked_until is not None:
        return LoginOutcome(None, LOCKED, locked_for=max(math.ceil((locked_until - now).total_seconds()), 1))
    user = await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if await passwords.verify(user.password_hash if user else None, password) and user is not None:
        if user.disabled_at is not None:
            return LoginOutcome(None, DISABLED)
        await clear_account_lock(session, hash_key, email)
        return LoginOutcome(user)
    window = timedelta(seconds=rules.window_seconds)
    locked = await _count_account_failure(session, account, now, rules)
    await _count_windowed_failure(
        session, "address", counters[1][1], now, limit=rules.address_max_failures, window=window
    )
    await _count_windowed_failure(
        session, "client", counters[2][1], now, limit=rules.client_max_failures, window=window
    )
    if locked is not None and user is not None:
        await record(
            session,
            None,
            "user.locked",
            user,
            organisation_id=user.organisation_id,
            entity_id=str(user.id),
            after={"locked_until": locked.isoformat()},
        )
    return LoginOutcome(None, WRONG)
