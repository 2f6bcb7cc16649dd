"""Webhook signing secrets at rest: encrypted under the key ring in the subscription row and in the stored
Idempotency-Key answer, in clear only in the creation response and its replays; the migration converts
existing rows both ways."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx

from effekt.embedded_pg import asyncpg_url
from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.platform import create_databases, drop_databases
from services.outcomes.pseudonyms import PartnershipKeys
from tests.outcomes.integrations.support import Receiver, eventually, ledger_engine, subscribe, write_events
from tests.outcomes.test_privacy import outcomes_dsn

ROOT = Path(__file__).resolve().parents[3]
BEFORE, ENCRYPTED = "32f53faeca1c", "25043c2d950a"


def forms_of(secret: str) -> list[str]:
    """How a secret could show in a row's text form: as sent, its base64 body, its key bytes as hex."""
    body = secret.removeprefix("whsec_")
    return [secret, body, base64.b64decode(body).hex()]


async def tables_holding(dsn: str, needles: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        found: dict[str, int] = {}
        for (table,) in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
            hits = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE ANY($1::text[])',  # noqa: S608
                [f"%{n}%" for n in needles],
            )
            if hits:
                found[table] = hits
        return found
    finally:
        await conn.close()


async def test_no_table_holds_a_webhook_secret_and_a_replay_answers_the_first_response(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    async with Receiver().running() as receiver, ledger_engine(platform) as engine:
        request = {
            "json": {"partnership_id": str(cast.partnership_id), "url": receiver.url},
            "headers": {**cast.investor.headers, "Idempotency-Key": uuid4().hex},
        }
        first = await outcomes.post("/v1/webhook-subscriptions", **request)  # type: ignore[arg-type]
        assert first.status_code == 201, first.text
        created = first.json()
        replay = await outcomes.post("/v1/webhook-subscriptions", **request)  # type: ignore[arg-type]
        assert replay.status_code == 201, replay.text
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == created
        # Deliveries are signed with the secret the replay showed, and verify with standardwebhooks.
        receiver.secret = replay.json()["secret"]
        await write_events(engine, cast.partnership_id, 3)
        await eventually(lambda: len(receiver.received) == 3)
    assert receiver.bad_signatures == 0

    needles = forms_of(created["secret"])
    assert await tables_holding(outcomes_dsn(platform), needles) == {}
    log = (platform.log_dir / "outcomes.log").read_text(errors="replace")
    assert not [n for n in needles if n in log]

    # A replay says what the first response said, even once the subscription is gone.
    path = f"/v1/webhook-subscriptions/{created['id']}"
    assert (await outcomes.delete(path, headers=cast.investor.headers)).status_code == 204
    after_delete = await outcomes.post("/v1/webhook-subscriptions", **request)  # type: ignore[arg-type]
    assert after_delete.status_code == 201
    assert after_delete.json() == created


async def test_after_a_rotation_both_secrets_verify_until_the_previous_one_is_dropped(
    platform: Platform, cast: Cast, outcomes: httpx.AsyncClient
) -> None:
    async with Receiver().running() as receiver, ledger_engine(platform) as engine:
        created = await subscribe(outcomes, cast.investor, cast.partnership_id, receiver.url)
        path = f"/v1/webhook-subscriptions/{created['id']}/secret-rotation"
        rotation = {"headers": {**cast.investor.headers, "Idempotency-Key": uuid4().hex, "If-Match": '"1"'}}
        rotated = await outcomes.post(path, **rotation)  # type: ignore[arg-type]
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()
        assert new["secret"].startswith("whsec_")
        assert new["secret"] != created["secret"]
        assert new["version"] == 2
        assert new["previous_secret_expires_at"] is not None
        replayed = await outcomes.post(path, **rotation)  # type: ignore[arg-type]
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json() == new

        for secret in (created["secret"], new["secret"]):  # either verifies during the grace
            receiver.secret = secret
            before = len(receiver.received)
            await write_events(engine, cast.partnership_id, 1, tag=secret[-8:])
            await eventually(lambda before=before: len(receiver.received) == before + 1)
        assert receiver.bad_signatures == 0

        dropped = await outcomes.post(
            path, json={"previous_secret_valid_for": 0}, headers={**cast.investor.headers, "If-Match": '"2"'}
        )
        assert dropped.status_code == 200, dropped.text
        assert dropped.json()["previous_secret_expires_at"] is None
        receiver.secret = new["secret"]  # no longer signs
        before = len(receiver.received)
        await write_events(engine, cast.partnership_id, 1, tag="after-drop")
        await eventually(lambda: receiver.bad_signatures > 0)
        receiver.secret = dropped.json()["secret"]  # the retry verifies under the newest
        await eventually(lambda: len(receiver.received) == before + 1)

    stale = await outcomes.post(path, headers={**cast.investor.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    needles = [f for s in (created, new, dropped.json()) for f in forms_of(s["secret"])]
    assert await tables_holding(outcomes_dsn(platform), needles) == {}


def _alembic(url: str, env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "services/outcomes/alembic.ini"), *args],
        env={**os.environ, **env, "OUTCOMES_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"alembic {' '.join(args)}:\n{result.stdout}{result.stderr}"


async def test_the_migration_encrypts_existing_secrets_and_the_downgrade_restores_them(
    pg_server_url: str,
) -> None:
    database = f"effekt_migrations_{secrets.token_hex(3)}_webhook_secrets"
    await create_databases(pg_server_url, [database])
    url = asyncpg_url(pg_server_url, database)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    service_secret = secrets.token_urlsafe(32)
    env = {"OUTCOMES_SECRET_KEY": service_secret, "OUTCOMES_SECRET_KEY_VERSION": "3"}
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    subscription_id, partnership_id = uuid4(), uuid4()
    answer = {"id": str(subscription_id), "partnership_id": str(partnership_id), "secret": secret}
    try:
        await asyncio.to_thread(_alembic, url, env, "upgrade", BEFORE)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO webhook_subscriptions"
                " (id, organisation_id, partnership_id, audience, url, secret, created_by)"
                " VALUES ($1, $2, $3, 'investor', 'https://example.org/hook', $4, 'test')",
                subscription_id,
                uuid4(),
                partnership_id,
                secret,
            )
            await conn.execute(
                "INSERT INTO idempotency_keys (owner, key, fingerprint, status_code, response)"
                " VALUES ('o:s', 'k', 'f', 201, $1::jsonb)",
                json.dumps(answer),
            )
        finally:
            await conn.close()

        await asyncio.to_thread(_alembic, url, env, "upgrade", ENCRYPTED)
        assert await tables_holding(dsn, forms_of(secret)) == {}
        conn = await asyncpg.connect(dsn)
        try:
            row = await conn.fetchrow(
                "SELECT secret_ciphertext, secret_key_version FROM webhook_subscriptions"
            )
            stored = json.loads(await conn.fetchval("SELECT response FROM idempotency_keys"))
        finally:
            await conn.close()
        assert row is not None
        ring = PartnershipKeys({3: service_secret.encode()})
        ids = {"partnership_id": partnership_id, "subscription_id": subscription_id}
        assert row["secret_key_version"] == 3
        assert ring.decrypt_webhook_secret(row["secret_ciphertext"], version=3, **ids) == secret
        sealed = stored["secret"]
        assert sealed["key_version"] == 3
        opened = ring.decrypt_webhook_secret(base64.b64decode(sealed["ciphertext"]), version=3, **ids)
        assert opened == secret

        await asyncio.to_thread(_alembic, url, env, "downgrade", BEFORE)
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT secret FROM webhook_subscriptions") == secret
            assert json.loads(await conn.fetchval("SELECT response FROM idempotency_keys")) == answer
        finally:
            await conn.close()
    finally:
        await drop_databases(pg_server_url, [database])
