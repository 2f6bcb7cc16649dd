"""A disposable platform for the tests and the bench: a PostgreSQL server, fresh databases, and the four
services running as real processes on free ports, exactly as `effekt up` runs them, tuned to make many
users quickly (cheap password hashing) and to share one PostgreSQL with other runs (small pools)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg

from effekt.database_roles import drop_runtime_roles, ensure_runtime_roles
from effekt.embedded_pg import EmbeddedPostgres, asyncpg_url
from effekt.launcher import DATABASE_SERVICES, SERVICES, Platform, platform_env


def free_port() -> int:
    (port,) = free_ports(1)
    return port


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are chosen, or the kernel may hand
    the same port out twice (two services then race for it, and the loser's clients reach the winner)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def postgres_server(work_dir: Path) -> Iterator[str]:
    """A server URL: `EFFEKT_TEST_DATABASE_URL`, else 127.0.0.1:5432, else an embedded server."""
    if url := os.environ.get("EFFEKT_TEST_DATABASE_URL"):
        yield url
    elif _reachable("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
    else:
        embedded = EmbeddedPostgres(work_dir / "postgres")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


async def _admin(server_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_url(server_url, "postgres").replace("+asyncpg", ""))


async def create_databases(server_url: str, names: list[str]) -> None:
    conn = await _admin(server_url)
    try:
        for name in names:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_databases(server_url: str, names: list[str]) -> None:
    conn = await _admin(server_url)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextmanager
def running_platform(
    server_url: str,
    log_dir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    only: tuple[str, ...] | None = None,
    revocation_poll_seconds: float | None = 0.5,
) -> Iterator[Platform]:
    """The platform's processes (or `only` those named) on free ports against fresh databases, dropped
    afterwards. Revocations reach every process within `revocation_poll_seconds`.

    The services connect as runtime roles made for this run (`platform.runtime_database_urls`), bound by
    the row policies, and migrate as the server's own user, which also owns the tables; tests that look
    at the tables directly use `platform.database_urls`, that owner's."""
    prefix = f"effekt_test_{secrets.token_hex(4)}"
    names = {s.name: f"{prefix}_{s.name}" for s in DATABASE_SERVICES}
    asyncio.run(create_databases(server_url, list(names.values())))
    database_urls = {service: asyncpg_url(server_url, db) for service, db in names.items()}
    admin_url = asyncpg_url(server_url, "postgres").replace("+asyncpg", "")
    try:
        runtime_urls = asyncio.run(ensure_runtime_roles(admin_url, names)) or database_urls
    except BaseException:
        asyncio.run(drop_databases(server_url, list(names.values())))
        raise
    # The first operator (identity ensures it on start-up); `effekt.sandbox.directory` reads it from
    # `platform.env`.
    bootstrap = {
        "IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID": f"operator-{secrets.token_hex(4)}",
        "IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET": secrets.token_urlsafe(32),
        # Cheap password hashing: a test suite creates and signs in hundreds of users.
        "IDENTITY_PASSWORD_HASH_TIME_COST": "1",
        "IDENTITY_PASSWORD_HASH_MEMORY_KIB": "8192",
        # Many runs share one PostgreSQL (100 connections): keep the idle pools small.
        "IDENTITY_DB_POOL_SIZE": "3",
        "IDENTITY_DB_MAX_OVERFLOW": "7",
        "CONTRACTS_DB_POOL_SIZE": "3",
        "CONTRACTS_DB_MAX_OVERFLOW": "12",
        "OUTCOMES_DB_POOL_SIZE": "3",
        "OUTCOMES_DB_MAX_OVERFLOW": "17",
    }

    def launch(ports: dict[str, int]) -> Platform:
        env = platform_env(
            ports=ports,
            database_urls=runtime_urls,
            migration_urls=database_urls,
            environment="test",
            extra={**bootstrap, **(extra_env or {})},
            revocation_poll_seconds=revocation_poll_seconds,
        )
        env["EFFEKT_TEST_PREFIX"] = prefix
        platform = Platform(ports=ports, env=env, log_dir=log_dir)
        platform.database_urls = database_urls  # type: ignore[attr-defined]
        platform.runtime_database_urls = runtime_urls  # type: ignore[attr-defined]
        try:
            platform.start(only)
            platform.wait_ready(timeout=120)
        except BaseException:
            platform.stop()
            raise
        return platform

    def fresh_ports() -> dict[str, int]:
        return dict(zip((s.name for s in SERVICES), free_ports(len(SERVICES)), strict=True))

    try:
        try:
            platform = launch(fresh_ports())
        except RuntimeError:
            # A port chosen free may be taken before the service binds it (by any process's outgoing
            # connection): once more on other ports, and a real start-up failure fails twice.
            platform = launch(fresh_ports())
        try:
            yield platform
        finally:
            platform.stop()
    finally:
        asyncio.run(drop_databases(server_url, list(names.values())))
        asyncio.run(drop_runtime_roles(admin_url, names))
