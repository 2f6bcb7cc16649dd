"""Signing keys: RSA pairs whose private halves are stored encrypted (AES-GCM, key derived from the
service's `secret_key` with HKDF), rotated by operators, and published in the JWKS until every token they
signed has expired.

Statuses: `active` (exactly one; signs), `retiring` (published, no longer signs, until `retire_after`),
`retired` (unpublished). Decrypted keys are cached per process by `kid`; a key never changes once made.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.identity.errors import LastSigningKey, SigningKeyNotFound
from services.identity.models import SigningKey

ALGORITHM = "RS256"
_NONCE_BYTES = 12


def derive_key(secret_key: str, purpose: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from the service's secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"effekt-identity", info=purpose).derive(
        secret_key.encode()
    )


@dataclass(frozen=True)
class Signer:
    """The key that signs right now."""

    kid: str
    key: RSAKey

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self.key)


class SigningKeys:
    """Loads, creates and decrypts signing keys; one per process."""

    def __init__(self, secret_key: str) -> None:
        self._aead = AESGCM(derive_key(secret_key, b"signing-keys"))
        self._decrypted: dict[str, Signer] = {}

    def _seal(self, kid: str, private_pem: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, private_pem, kid.encode())

    def open(self, row: SigningKey) -> Signer:
        signer = self._decrypted.get(row.kid)
        if signer is None:
            blob = row.private_key_encrypted
            pem = self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], row.kid.encode())
            signer = Signer(row.kid, RSAKey.import_key(pem))
            self._decrypted[row.kid] = signer
        return signer

    def new_key(self) -> SigningKey:
        kid = secrets.token_urlsafe(12)
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})
        return SigningKey(
            kid=kid,
            algorithm=ALGORITHM,
            public_jwk=key.as_dict(private=False),
            private_key_encrypted=self._seal(kid, key.as_pem(private=True)),
            status="active",
        )

    async def ensure_active(self, session: AsyncSession) -> None:
        """Make a first key if none signs (start-up; safe when replicas race: one insert wins)."""
        if await session.scalar(select(SigningKey.kid).where(SigningKey.status == "active")) is not None:
            return
        row = self.new_key()
        await session.execute(
            insert(SigningKey)
            .values(
                kid=row.kid,
                algorithm=row.algorithm,
                public_jwk=row.public_jwk,
                private_key_encrypted=row.private_key_encrypted,
                status="active",
            )
            .on_conflict_do_nothing()
        )

    async def signer(self, session: AsyncSession) -> Signer:
        row = (await session.scalars(select(SigningKey).where(SigningKey.status == "active"))).one()
        return self.open(row)


def published_key_filter() -> Any:
    """Keys in the JWKS: the active one, and retiring ones whose tokens may still be alive."""
    now = datetime.now(UTC)
    return or_(
        SigningKey.status == "active",
        (SigningKey.status == "retiring") & (SigningKey.retire_after > now),
    )


def _published_query() -> Any:
    return select(SigningKey.public_jwk).where(published_key_filter()).order_by(SigningKey.created_at)


async def published_jwks(session: AsyncSession) -> dict[str, Any]:
    """The JWKS: the active key and every retiring key whose tokens may still be alive."""
    return {"keys": list(await session.scalars(_published_query()))}


def published_key_set_sync(session: Session) -> KeySet:
    """The same keys, for authlib's synchronous hooks."""
    return KeySet.import_key_set({"keys": list(session.scalars(_published_query()))})


async def list_signing_keys(session: AsyncSession) -> list[SigningKey]:
    return list(await session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())))


async def rotate_signing_key(session: AsyncSession, ring: SigningKeys, *, grace: timedelta) -> SigningKey:
    """A new key signs from now on; the old one stays published for `grace` (its tokens' lifetime)."""
    current = (
        await session.scalars(select(SigningKey).where(SigningKey.status == "active").with_for_update())
    ).one_or_none()
    if current is not None:
        current.status = "retiring"
        current.retire_after = datetime.now(UTC) + grace
        await session.flush()
    row = ring.new_key()
    session.add(row)
    await session.flush()
    return row


async def retire_signing_key(session: AsyncSession, kid: str) -> SigningKey:
    """Unpublish a key now: every token it signed stops verifying (for a compromised key)."""
    row = await session.get(SigningKey, kid, with_for_update=True)
    if row is None:
        raise SigningKeyNotFound(f"no signing key {kid!r}")
    if row.status == "active":
        raise LastSigningKey()
    row.status = "retired"
    row.retire_after = datetime.now(UTC)
    await session.flush()
    return row
