"""Each service's migrations reach head from empty, agree with its models (`alembic check`), and undo."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from effekt.embedded_pg import asyncpg_url
from effekt.sandbox.platform import create_databases, drop_databases

ROOT = Path(__file__).resolve().parents[1]


def _alembic(service: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, f"{service.upper()}_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "services" / service / "alembic.ini"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("service", ["identity", "contracts", "outcomes"])
def test_migrations_match_the_models_and_round_trip(pg_server_url: str, service: str) -> None:
    database = f"effekt_migrations_{secrets.token_hex(3)}_{service}"
    asyncio.run(create_databases(pg_server_url, [database]))
    url = asyncpg_url(pg_server_url, database)
    try:
        for args in (["upgrade", "head"], ["check"], ["downgrade", "base"], ["upgrade", "head"]):
            result = _alembic(service, url, *args)
            assert result.returncode == 0, f"alembic {' '.join(args)}:\n{result.stdout}{result.stderr}"
        assert "No new upgrade operations detected" in _alembic(service, url, "check").stdout
    finally:
        asyncio.run(drop_databases(pg_server_url, [database]))
