"""Keyed pseudonyms for participants; encryption of municipal reference numbers and webhook secrets.

Keys are derived, never stored: each service secret has a version, and the per-partnership key is
HMAC-SHA256(secret_v, purpose | partnership_id). A participant's pseudonym is HMAC-SHA256 of the CPR
digits under the partnership key of the current version; the version is stored next to it. Municipal
references and webhook signing secrets are encrypted (AES-256-GCM) under keys derived the same way.

Rotation: a new secret version is used for every new enrolment; older versions stay configured (read
only) because a CPR number is never stored, so old pseudonyms cannot be recomputed in bulk. Duplicate
detection therefore computes the presented CPR's pseudonym under *every* configured version and looks
for any of them ("lookup under all versions"). An old version can be retired once no participant row
carries it (or the partnership has ended). See docs/outcomes.md.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PSEUDONYM = b"effekt.outcomes.pseudonym.v1|"
_REFERENCE = b"effekt.outcomes.municipal-reference.v1|"
_WEBHOOK_SECRET = b"effekt.outcomes.webhook-secret.v1|"
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class Pseudonym:
    key_version: int
    value: str  # 64 hex characters


class PartnershipKeys:
    """The service's secrets by version, from which every key is derived per partnership (pseudonyms,
    municipal references, webhook secrets); `current` (by default the highest) pseudonymises new enrolments,
    and every version is looked up. A version can be known before it becomes current, so a rolling
    rotation never has a replica that cannot find what another replica wrote."""

    def __init__(self, secrets: Mapping[int, bytes], *, current: int | None = None) -> None:
        if not secrets:
            raise ValueError("at least one secret version is needed")
        if any(version < 1 or len(secret) == 0 for version, secret in secrets.items()):
            raise ValueError("secret versions are positive and secrets non-empty")
        if current is not None and current not in secrets:
            raise ValueError(f"the current version {current} has no secret")
        self._secrets = dict(secrets)
        self.current_version = max(secrets) if current is None else current

    @property
    def versions(self) -> list[int]:
        return sorted(self._secrets, reverse=True)

    def _derive(self, purpose: bytes, version: int, partnership_id: UUID) -> bytes:
        try:
            secret = self._secrets[version]
        except KeyError as exc:
            raise LookupError(f"no secret of version {version} is configured") from exc
        return hmac.new(secret, purpose + partnership_id.bytes, hashlib.sha256).digest()

    def pseudonym(self, cpr_digits: str, partnership_id: UUID, version: int | None = None) -> Pseudonym:
        version = self.current_version if version is None else version
        key = self._derive(_PSEUDONYM, version, partnership_id)
        return Pseudonym(version, hmac.new(key, cpr_digits.encode(), hashlib.sha256).hexdigest())

    def all_pseudonyms(self, cpr_digits: str, partnership_id: UUID) -> list[Pseudonym]:
        """The CPR's pseudonym under every configured version, for duplicate detection across rotation."""
        return [self.pseudonym(cpr_digits, partnership_id, v) for v in self.versions]

    def encrypt_reference(
        self, plaintext: str, *, partnership_id: UUID, participant_id: UUID, municipality_code: str
    ) -> tuple[int, bytes]:
        """AES-256-GCM; the participant and municipality are bound in as associated data."""
        version = self.current_version
        key = self._derive(_REFERENCE, version, partnership_id)
        nonce = os.urandom(_NONCE_BYTES)
        aad = participant_id.bytes + municipality_code.encode()
        return version, nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad)

    def decrypt_reference(
        self,
        blob: bytes,
        *,
        version: int,
        partnership_id: UUID,
        participant_id: UUID,
        municipality_code: str,
    ) -> str:
        key = self._derive(_REFERENCE, version, partnership_id)
        aad = participant_id.bytes + municipality_code.encode()
        nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        return AESGCM(key).decrypt(nonce, ciphertext, aad).decode()

    def encrypt_webhook_secret(
        self, plaintext: str, *, partnership_id: UUID, subscription_id: UUID
    ) -> tuple[int, bytes]:
        """AES-256-GCM under the partnership's key; the subscription is bound in as associated data, so a
        ciphertext copied onto another subscription's row does not decrypt."""
        version = self.current_version
        return version, self._seal(_WEBHOOK_SECRET, version, partnership_id, plaintext, subscription_id.bytes)

    def decrypt_webhook_secret(
        self, blob: bytes, *, version: int, partnership_id: UUID, subscription_id: UUID
    ) -> str:
        return self._open(_WEBHOOK_SECRET, version, partnership_id, blob, subscription_id.bytes)

    def _seal(self, purpose: bytes, version: int, partnership_id: UUID, plaintext: str, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        key = self._derive(purpose, version, partnership_id)
        return nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad)

    def _open(self, purpose: bytes, version: int, partnership_id: UUID, blob: bytes, aad: bytes) -> str:
        key = self._derive(purpose, version, partnership_id)
        nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        return AESGCM(key).decrypt(nonce, ciphertext, aad).decode()
