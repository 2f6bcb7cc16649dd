"""`Idempotency-Key` on identity's writes stores nothing secret: no client secret, no password, no unkeyed
digest of a body with a password in it; replays still answer what the first response said, and expire."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from effekt.launcher import Platform
from effekt.sandbox.directory import PASSWORD, create_organisation, operator_headers, unique_email
from services.identity.housekeeping import purge_expired


@pytest.fixture
async def database(platform: Platform) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(platform.database_urls["identity"])  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        await engine.dispose()


async def _everything_stored(engine: AsyncEngine) -> str:
    """Every row of every table in identity's database, as text."""
    async with engine.connect() as connection:
        tables = (
            await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            )
        ).scalars()
        rows: list[str] = []
        for table in list(tables):
            query = text(f'SELECT t::text FROM "{table}" AS t')  # noqa: S608 - names from pg_tables
            rows += (await connection.execute(query)).scalars()
    return "\n".join(rows)


def _digests(method: str, path: str, body: bytes) -> list[str]:
    """Unsalted SHA-256s of the request: of the body, and as kit's plain fingerprint frames it."""
    framed = hashlib.sha256()
    for part in (method.encode(), path.encode(), b"", body):
        framed.update(len(part).to_bytes(8, "big"))
        framed.update(part)
    return [hashlib.sha256(body).hexdigest(), framed.hexdigest()]


async def _post(
    identity: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    content = json.dumps(body).encode()
    response = await identity.post(
        path, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    return response, content


async def _stored_key(engine: AsyncEngine, key: str) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM idempotency_keys WHERE key = :key"), {"key": key}
        )
    return int(count or 0)


async def _age(engine: AsyncEngine, key: str, by: timedelta) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE idempotency_keys SET created_at = created_at - make_interval(secs => :by)"
                " WHERE key = :key"
            ),
            {"by": by.total_seconds(), "key": key},
        )


async def test_replayed_creations_store_no_secret_password_or_plain_digest(
    platform: Platform, identity: httpx.AsyncClient, database: AsyncEngine
) -> None:
    organisation = await create_organisation(platform, "provider", "Sealed replays")
    headers = await operator_headers(platform)
    client_path = f"/v1/organisations/{organisation['id']}/clients"
    client_body = {
        "name": "ERP",
        "client_type": "confidential",
        "grant_types": ["client_credentials"],
        "scopes": ["partners:read"],
    }
    client_key = {"Idempotency-Key": secrets.token_hex(8)}
    created, client_content = await _post(identity, client_path, client_body, {**headers, **client_key})
    replayed, _ = await _post(identity, client_path, client_body, {**headers, **client_key})

    user_path = f"/v1/organisations/{organisation['id']}/users"
    password = f"{PASSWORD}-{secrets.token_hex(4)}"
    user_body = {
        "email": unique_email("sealed"),
        "display_name": "Sealed User",
        "org_role": "member",
        "password": password,
    }
    user_key = {"Idempotency-Key": secrets.token_hex(8)}
    user, user_content = await _post(identity, user_path, user_body, {**headers, **user_key})
    user_again, _ = await _post(identity, user_path, user_body, {**headers, **user_key})

    assert created.status_code == replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.headers["cache-control"] == "no-store"
    secret = created.json()["client_secret"]
    assert replayed.json() == created.json()
    assert user.status_code == user_again.status_code == 201
    assert user_again.headers["idempotent-replayed"] == "true"
    assert user_again.json() == user.json()
    # The replayed secret is the real one.
    token = await identity.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(created.json()["client_id"], replayed.json()["client_secret"]),
    )
    assert token.status_code == 200

    stored = await _everything_stored(database)
    assert await _stored_key(database, client_key["Idempotency-Key"]) == 1
    assert await _stored_key(database, user_key["Idempotency-Key"]) == 1
    assert secret not in stored
    assert password not in stored
    for digest in _digests("POST", client_path, client_content) + _digests("POST", user_path, user_content):
        assert digest not in stored


async def test_a_replay_expires_and_housekeeping_sweeps_it(
    platform: Platform, identity: httpx.AsyncClient, database: AsyncEngine
) -> None:
    organisation = await create_organisation(platform, "investor", "Expiring replays")
    headers = await operator_headers(platform)
    path = f"/v1/organisations/{organisation['id']}/clients"
    body = {
        "name": "Ledger reader",
        "client_type": "confidential",
        "grant_types": ["client_credentials"],
        "scopes": ["partners:read"],
    }
    expired_key, kept_key, swept_key = (secrets.token_hex(8) for _ in range(3))
    first, _ = await _post(identity, path, body, {**headers, "Idempotency-Key": expired_key})
    # After the default 24 hours the key is free: a retry with it is a new request.
    await _age(database, expired_key, timedelta(hours=24, minutes=1))
    after_expiry, _ = await _post(identity, path, body, {**headers, "Idempotency-Key": expired_key})
    assert first.status_code == after_expiry.status_code == 201
    assert "idempotent-replayed" not in after_expiry.headers
    assert after_expiry.json()["client_id"] != first.json()["client_id"]

    await _post(identity, path, body, {**headers, "Idempotency-Key": kept_key})
    await _post(identity, path, body, {**headers, "Idempotency-Key": swept_key})
    await _age(database, kept_key, timedelta(hours=23))
    await _age(database, swept_key, timedelta(hours=25))
    async with async_sessionmaker(database)() as session, session.begin():
        counts = await purge_expired(
            session,
            access_token_lifetime=timedelta(minutes=15),
            idempotency_replay_lifetime=timedelta(hours=24),
        )
    assert counts["idempotency_keys"] >= 1
    assert await _stored_key(database, kept_key) == 1
    assert await _stored_key(database, swept_key) == 0
    still, _ = await _post(identity, path, body, {**headers, "Idempotency-Key": kept_key})
    assert still.headers["idempotent-replayed"] == "true"
