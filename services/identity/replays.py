"""Identity's `Idempotency-Key`: kit's mechanism (kit/idempotency.py), with nothing secret in what it stores.

- The request fingerprint is an HMAC-SHA256 under a key derived from `IDENTITY_SECRET_KEY`, never a plain
  SHA-256: a user creation's body carries a password, and an unkeyed digest of a guessable body is an
  offline oracle for it (as in outcomes' `keyed_idempotency`, whose bodies carry CPR numbers).
- A secret in a response (a confidential client's `client_secret`) is stored sealed (AES-256-GCM, key
  derived from the same secret, the key's owner and name bound in as associated data) and opened when the
  response is replayed, so a retry still answers exactly what the first response said.
- A stored replay lives `IDENTITY_IDEMPOTENCY_REPLAY_SECONDS` (24 h by default): after that the key is
  free again (a retry with it is a new request), and kit's sweep and identity's housekeeping delete it.

Changing `IDENTITY_SECRET_KEY` makes every stored fingerprint differ: a retry across the change is then a
422 `idempotency-key-reused`, never a replay of something it cannot open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from kit.auth import CurrentPrincipal
from kit.db import DbSession
from kit.idempotency import Idempotency, checked_key, replayed_with
from kit.openapi import IDEMPOTENCY_KEY, reads_headers
from services.identity.models import idempotency_keys
from services.identity.oauth.keys import derive_key

_NONCE_BYTES = 12
# A stored value `{SEALED: "<base64 nonce + ciphertext>"}` stands for a secret string.
SEALED = "$sealed"


@dataclass(frozen=True)
class ReplayKeys:
    """The two keys identity's stored replays need, derived once per process from the service secret."""

    fingerprint: bytes
    sealing: bytes
    lifetime: timedelta

    @classmethod
    def from_secret(cls, secret_key: str, *, lifetime: timedelta) -> ReplayKeys:
        return cls(
            fingerprint=derive_key(secret_key, b"idempotency-fingerprints"),
            sealing=derive_key(secret_key, b"idempotent-replays"),
            lifetime=lifetime,
        )


@dataclass
class SealingIdempotency(Idempotency):
    """kit's handle with expiry, and with the response fields named in `respond(..., sealed=...)` stored
    sealed and opened on replay."""

    keys: ReplayKeys | None = field(default=None, kw_only=True)

    def _aad(self) -> bytes:
        return json.dumps([self.owner, self.key]).encode()

    def _seal(self, value: str) -> dict[str, str]:
        assert self.keys is not None
        nonce = secrets.token_bytes(_NONCE_BYTES)
        blob = nonce + AESGCM(self.keys.sealing).encrypt(nonce, value.encode(), self._aad())
        return {SEALED: base64.b64encode(blob).decode()}

    def _open(self, sealed: str) -> str:
        assert self.keys is not None
        blob = base64.b64decode(sealed)
        nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        return AESGCM(self.keys.sealing).decrypt(nonce, ciphertext, self._aad()).decode()

    async def replay(self) -> JSONResponse | None:
        replayed = await super().replay()
        if replayed is None:
            return None
        body = json.loads(bytes(replayed.body))
        sealed = [
            name
            for name, value in (body.items() if isinstance(body, dict) else ())
            if isinstance(value, dict) and set(value) == {SEALED}
        ]
        if not sealed:
            return replayed
        for name in sealed:
            body[name] = self._open(body[name][SEALED])
        return replayed_with(replayed, body)

    async def respond(
        self,
        status_code: int,
        content: Any,
        headers: Mapping[str, str] | None = None,
        *,
        sealed: tuple[str, ...] = (),
    ) -> JSONResponse:
        """The response; stored against the key with the `sealed` fields (strings) encrypted."""
        body = jsonable_encoder(content)
        if self.key is None or not sealed:
            return await super().respond(status_code, body, headers)
        stored = {
            name: self._seal(value) if name in sealed and isinstance(value, str) else value
            for name, value in body.items()
        }
        await self.record(status_code, stored, headers)
        return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def fingerprint(key: bytes, request: Request, body: bytes) -> str:
    """An HMAC of the request's method, path, query and body, each length-prefixed."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (request.method.encode(), request.url.path.encode(), request.url.query.encode(), body):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


@reads_headers(IDEMPOTENCY_KEY)
async def sealing_idempotency(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> SealingIdempotency:
    """The request's `Idempotency-Key` handle, bound to the request's own session (FastAPI caches
    `DbSession` per request, so it is the handler's)."""
    key = checked_key(request)
    keys: ReplayKeys = request.app.state.replay_keys
    return SealingIdempotency(
        table=idempotency_keys,
        session=session,
        owner=f"{principal.organisation_id}:{principal.subject}",
        key=key,
        fingerprint=fingerprint(keys.fingerprint, request, await request.body()),
        keys=keys,
        lifetime=keys.lifetime,
    )
