"""The image's entry point, run for real on this machine: migrate a database, serve it, stop gracefully.

The container's own user, filesystem and interpreter cannot be had here; what runs is the same script
with the same verbs, in production mode, against a fresh database on the session's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from effekt.database_roles import drop_runtime_roles, ensure_runtime_roles
from effekt.embedded_pg import asyncpg_url
from effekt.sandbox.platform import create_databases, drop_databases, free_port

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "entrypoint.sh"


@pytest.fixture
def production_env(pg_server_url: str) -> Iterator[dict[str, str]]:
    database = f"effekt_entrypoint_{secrets.token_hex(4)}"
    asyncio.run(create_databases(pg_server_url, [database]))
    # As deployed: the service connects as a runtime role that owns nothing, the migration as the owner.
    admin = asyncpg_url(pg_server_url, "postgres").replace("+asyncpg", "")
    runtime = asyncio.run(ensure_runtime_roles(admin, {"contracts": database}))
    assert runtime is not None, "the test server's user creates roles"
    scrubbed = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "CONTRACTS_"))}
    env = {
        **scrubbed,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CONTRACTS_ENVIRONMENT": "production",
        "CONTRACTS_MIGRATE_ON_START": "false",
        "CONTRACTS_SECRET_KEY": secrets.token_urlsafe(48),
        # Production serves only with a client for identity's revocation list (no identity runs here:
        # the poll fails, is logged, and the process serves on).
        "CONTRACTS_REVOCATIONS_CLIENT_ID": "effekt-contracts",
        "CONTRACTS_REVOCATIONS_CLIENT_SECRET": secrets.token_urlsafe(32),
        "CONTRACTS_DATABASE_URL": runtime["contracts"],
        "CONTRACTS_MIGRATION_DATABASE_URL": asyncpg_url(pg_server_url, database),
        "PORT": str(free_port()),
        "GRACEFUL_SHUTDOWN_SECONDS": "5",
    }
    try:
        yield env
    finally:
        asyncio.run(drop_databases(pg_server_url, [database]))
        asyncio.run(drop_runtime_roles(admin, {"contracts": database}))


async def _set_revision(database_url: str, revision: str) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute("UPDATE alembic_version SET version_num = $1", revision)
    finally:
        await conn.close()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def _wait_for(url: str, process: subprocess.Popen[bytes], wanted: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        if _status(url) == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered {wanted}")


def test_migrate_then_serve_in_production_mode_and_stop_gracefully_on_sigterm(
    production_env: dict[str, str], tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{production_env['PORT']}"
    log = tmp_path / "contracts.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "contracts"], env=production_env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        # Production never migrates on start: up, but not ready, until the migration job has run.
        _wait_for(f"{base}/healthz", server, 200)
        assert _status(f"{base}/readyz") == 503
        migrate = subprocess.run(
            ["sh", str(ENTRYPOINT), "migrate", "contracts"],
            env=production_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        _wait_for(f"{base}/readyz", server, 200)
        # A newer release's migration runs while this release still serves: it must stay ready.
        asyncio.run(_set_revision(production_env["CONTRACTS_MIGRATION_DATABASE_URL"], "feedfacecafe"))
        assert _status(f"{base}/readyz") == 200
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status names SIGTERM
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_production_refuses_to_serve_as_a_role_that_bypasses_row_security(
    production_env: dict[str, str], tmp_path: Path
) -> None:
    """Connected as the tables' owner (here a superuser), the row policies would bind nothing."""
    env = {**production_env, "CONTRACTS_DATABASE_URL": production_env["CONTRACTS_MIGRATION_DATABASE_URL"]}
    served = subprocess.run(
        ["sh", str(ENTRYPOINT), "contracts"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert served.returncode != 0
    assert "refusing to serve" in served.stdout + served.stderr
    assert "is a superuser" in served.stdout + served.stderr


def test_the_migrate_and_serve_commands_do_not_need_the_embedded_postgresql() -> None:
    """The image leaves out `pgserver` (a laptop convenience); nothing the entry point runs may import it."""
    probe = (
        "import sys, effekt.cli, services.identity.app, services.contracts.app, services.outcomes.app, "
        "gateway.app; sys.exit('pgserver' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
