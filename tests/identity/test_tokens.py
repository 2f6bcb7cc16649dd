"""Signing keys rotate without breaking live tokens, and a retired key's tokens stop verifying; tokens that
are expired, forged, unsigned, or meant for someone else are refused, even when signed with identity's
real key.

These tests retire keys, so they run against an identity process of their own.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from effekt.launcher import Platform
from effekt.sandbox.directory import client_credentials_token, create_machine_client, create_organisation
from effekt.sandbox.http import new_client
from effekt.sandbox.signin import claims_of
from kit.settings import DEV_SECRET
from services.identity.models import SigningKey
from services.identity.oauth.keys import Signer, SigningKeys
from tests.platform import running_platform


@pytest.fixture(scope="module")
def own_identity(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("identity-keys-logs")
    with running_platform(pg_server_url, log_dir, only=("identity",)) as running:
        yield running


@pytest.fixture
async def identity(own_identity: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(base_url=own_identity.url("identity"), timeout=30.0) as client:
        yield client


async def operator_token(platform: Platform) -> str:
    """A fresh bootstrap-operator token (the shared cache would hold one signed by a retired key)."""
    token = await client_credentials_token(
        platform,
        platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"],
        platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET"],
    )
    return str(token["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def verify_with_pyjwt(platform: Platform, token: str) -> dict[str, Any]:
    client = jwt.PyJWKClient(f"{platform.url('identity')}/jwks.json", cache_keys=False, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience="effekt", issuer=platform.url("identity")
    )
    return claims


async def test_rotation_keeps_old_tokens_valid_and_retirement_ends_them(
    own_identity: Platform, identity: httpx.AsyncClient
) -> None:
    before = await operator_token(own_identity)
    old_kid = jwt.get_unverified_header(before)["kid"]

    rotated = await identity.post("/v1/signing-keys/rotations", headers=bearer(before))
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid

    jwks = (await identity.get("/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    assert (
        verify_with_pyjwt(own_identity, before)["sub"]
        == own_identity.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"]
    )
    assert (await identity.get("/v1/organisations", headers=bearer(before))).status_code == 200

    after = await operator_token(own_identity)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    verify_with_pyjwt(own_identity, after)
    keys = {k["kid"]: k for k in (await identity.get("/v1/signing-keys", headers=bearer(after))).json()}
    assert keys[new_kid]["status"] == "active"
    assert keys[old_kid]["status"] == "retiring"
    assert keys[old_kid]["retire_after"] is not None

    refused = await identity.post(f"/v1/signing-keys/{new_kid}/retirement", headers=bearer(after))
    assert refused.status_code == 409
    assert refused.json()["code"] == "last-signing-key"

    retired = await identity.post(f"/v1/signing-keys/{old_kid}/retirement", headers=bearer(after))
    assert retired.status_code == 200
    assert {k["kid"] for k in (await identity.get("/jwks.json")).json()["keys"]} == {new_kid}
    with pytest.raises(jwt.PyJWKClientError):
        verify_with_pyjwt(own_identity, before)
    assert (await identity.get("/v1/organisations", headers=bearer(before))).status_code == 401
    assert (await identity.get("/v1/organisations", headers=bearer(after))).status_code == 200


async def test_only_operators_rotate_keys(own_identity: Platform, identity: httpx.AsyncClient) -> None:
    organisation = await create_organisation(own_identity, "provider", "Key thief")
    client = await create_machine_client(
        own_identity, organisation["id"], scopes="partners:write partners:read"
    )
    token = await client_credentials_token(own_identity, client["client_id"], client["client_secret"])
    response = await identity.post("/v1/signing-keys/rotations", headers=bearer(token["access_token"]))
    assert response.status_code == 403
    listing = await identity.get("/v1/signing-keys", headers=bearer(token["access_token"]))
    assert listing.status_code == 403


# --- forged and misdirected tokens ------------------------------------------------------------------------


async def real_signer(platform: Platform) -> Signer:
    """identity's current signing key, read from its database: lets a test mint tokens that differ from a
    real one only in the claim under test."""
    engine = create_async_engine(platform.database_urls["identity"])  # type: ignore[attr-defined]
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(SigningKey).where(SigningKey.status == "active"))).one()
    finally:
        await engine.dispose()
    ring = SigningKeys(platform.env.get("IDENTITY_SECRET_KEY", DEV_SECRET))
    return ring.open(SigningKey(**row._asdict()))


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _tamper(token: str, **changes: Any) -> dict[str, Any]:
    claims = claims_of(token)
    claims.update(changes)
    claims["jti"] = uuid.uuid4().hex
    return claims


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 1500}, "expired"),
    ],
)
async def test_a_token_signed_by_the_real_key_with_a_bad_claim_is_refused(
    own_identity: Platform, identity: httpx.AsyncClient, change: dict[str, Any], reason: str
) -> None:
    genuine = await operator_token(own_identity)
    signer = await real_signer(own_identity)
    assert (await identity.get("/v1/organisations", headers=bearer(genuine))).status_code == 200
    forged = signer.sign(_tamper(genuine, **change))
    response = await identity.get("/v1/organisations", headers=bearer(forged))
    assert response.status_code == 401, reason
    assert response.headers["content-type"] == "application/problem+json"


async def test_unsigned_hmac_and_foreign_key_tokens_are_refused(
    own_identity: Platform, identity: httpx.AsyncClient
) -> None:
    genuine = await operator_token(own_identity)
    header = jwt.get_unverified_header(genuine)
    claims = _tamper(genuine)
    public_jwk = next(
        k for k in (await identity.get("/jwks.json")).json()["keys"] if k["kid"] == header["kid"]
    )
    foreign = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
    forgeries = {
        "alg none": f"{_segment({'alg': 'none', 'kid': header['kid']})}.{_segment(claims)}.",
        "HS256 with the public key": jose_jwt.encode(
            {"alg": "HS256", "kid": header["kid"]},
            claims,
            OctKey.import_key(str(public_jwk["n"])),
            algorithms=["HS256"],
        ),
        "foreign key, real kid": jose_jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, foreign),
        "unknown kid": jose_jwt.encode(
            {"alg": "RS256", "kid": "nobody"}, claims, RSAKey.generate_key(2048, parameters={"kid": "nobody"})
        ),
        "tampered payload": ".".join(
            [
                genuine.split(".")[0],
                _segment(claims),
                genuine.split(".")[2],
            ]
        ),
    }
    for name, token in forgeries.items():
        response = await identity.get("/v1/organisations", headers=bearer(token))
        assert response.status_code == 401, name
