"""kit.auth accepts only Effekt's own, current, correctly signed tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from kit.auth import Principal, TokenVerifier
from kit.problems import Unauthorized

ISSUER, AUDIENCE = "https://id.effekt.test", "effekt"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "sub": str(uuid.uuid4()),
        "sub_type": "user",
        "org_id": str(uuid.uuid4()),
        "partner_type": "provider",
        "org_role": "signatory",
        "scope": "contracts:read contracts:write",
        "memberships": [{"partnership_id": "6f1c1a52-0f7c-4c1b-9d6e-3f1e2a4b5c6d", "role": "provider"}],
    }
    base.update(overrides)
    return base


class Keys:
    def __init__(self) -> None:
        self.current = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.published = [self.current]
        self.fetches = 0

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        return dict(KeySet(self.published).as_dict(private=False))  # type: ignore[arg-type]

    def sign(self, payload: dict[str, Any], key: RSAKey | None = None) -> str:
        key = key or self.current
        return jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key)


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def verifier(keys: Keys) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, fetch_jwks=keys.fetch, min_refresh=0)


async def test_a_valid_token_becomes_a_principal(keys: Keys, verifier: TokenVerifier) -> None:
    payload = claims()
    principal = await verifier.verify(keys.sign(payload))
    assert isinstance(principal, Principal)
    assert principal.organisation_id == uuid.UUID(payload["org_id"])
    assert principal.scopes == {"contracts:read", "contracts:write"}
    assert principal.roles_in(uuid.UUID("6f1c1a52-0f7c-4c1b-9d6e-3f1e2a4b5c6d")) == {"provider"}
    assert principal.user_id == uuid.UUID(payload["sub"])


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "someone-else"}, "aud"),
        ({"iss": "https://evil.example"}, "iss"),
        ({"jti": None}, "jti"),
    ],
)
async def test_claims_are_checked(
    keys: Keys, verifier: TokenVerifier, overrides: dict[str, Any], reason: str
) -> None:
    payload = {k: v for k, v in claims(**overrides).items() if v is not None}
    with pytest.raises(Unauthorized):
        await verifier.verify(keys.sign(payload))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    token = f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64(claims())}."
    with pytest.raises(Unauthorized, match="algorithm"):
        await verifier.verify(token)


async def test_hmac_signed_with_the_public_key_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    # The classic confusion attack: HMAC over the token, keyed with the issuer's *public* key.
    public_pem = keys.current.as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': 'k1'})}.{_b64(claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    with pytest.raises(Unauthorized, match="algorithm"):
        await verifier.verify(token)


async def test_a_token_from_an_unknown_key_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(Unauthorized):
        await verifier.verify(keys.sign(claims(), stranger))
    other_kid = RSAKey.generate_key(2048, parameters={"kid": "unknown"})
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(keys.sign(claims(), other_kid))


async def test_a_new_key_is_fetched_when_it_first_signs(keys: Keys, verifier: TokenVerifier) -> None:
    await verifier.verify(keys.sign(claims()))
    rotated = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})
    keys.published.append(rotated)
    keys.current = rotated
    await verifier.verify(keys.sign(claims()))
    assert keys.fetches == 2


async def test_a_tampered_payload_fails_the_signature(keys: Keys, verifier: TokenVerifier) -> None:
    header, _, signature = keys.sign(claims()).split(".")
    forged = f"{header}.{_b64(claims(partner_type='operator'))}.{signature}"
    with pytest.raises(Unauthorized):
        await verifier.verify(forged)


async def test_a_retired_key_stops_verifying_once_the_cache_ages(keys: Keys) -> None:
    verifier = TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, fetch_jwks=keys.fetch, min_refresh=0, max_age=0
    )
    token = keys.sign(claims())
    await verifier.verify(token)
    keys.published = [RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})]
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(token)


async def test_concurrent_requests_share_one_key_fetch(keys: Keys) -> None:
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, fetch_jwks=keys.fetch)
    token = keys.sign(claims())
    await asyncio.gather(*(verifier.verify(token) for _ in range(20)))
    assert keys.fetches == 1
