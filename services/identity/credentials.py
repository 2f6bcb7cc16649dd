"""Secrets at rest: argon2 for passwords (low entropy, so slow hashing), keyed SHA-256 for the random
secrets the service mints itself (client secrets, refresh tokens, authorisation codes: 256 bits of entropy
need no stretching, and a fast hash keeps the token endpoint cheap), and the password-strength rule."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
_COMMON = frozenset(
    {"password1234", "passwordpassword", "123456789012", "qwertyuiopas", "letmeinletmein", "effekteffekt"}
)


def mint_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def password_problems(password: str, *, email: str, display_name: str) -> list[str]:
    """Why the password is too weak (empty when it is acceptable)."""
    reasons: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        reasons.append(f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 256:
        reasons.append("must be at most 256 characters")
    classes = sum(
        any(test(c) for c in password)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    if classes < 3 and len(password) < 20:
        reasons.append("must mix at least three of lower case, upper case, digits and symbols")
    lowered = password.lower()
    if lowered in _COMMON or len(set(lowered)) < 5:
        reasons.append("is too common or repetitive")
    local_part = email.split("@", 1)[0].lower()
    names = [local_part, *display_name.lower().split()]
    if any(len(name) >= 4 and name in lowered for name in names):
        reasons.append("must not contain your name or e-mail address")
    return reasons


class Passwords:
    """argon2id hashing off the event loop. The defaults are RFC 9106's second recommended profile; the
    test suite lowers the cost (`IDENTITY_PASSWORD_HASH_*`) since it hashes hundreds of passwords."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        # Verified against when the e-mail is unknown, so a miss costs as long as a wrong password.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """`None` (an unknown user) still costs one verification, and is never a match."""

        def verify() -> bool:
            try:
                matched = self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False
            return bool(matched) and password_hash is not None

        return await asyncio.to_thread(verify)
