"""A disposable platform for the tests and the bench: a PostgreSQL server, fresh databases, and the four
services running as real processes on free ports, exactly as `effekt up` runs them, tuned to make many
users quickly (cheap password hashing) and to share one PostgreSQL with other runs (small pools).

A run that starts many platforms (the test suite) asks for `from_templates`: each service's migrations
then run once per server (`alembic upgrade head` into a template database), and every platform's
databases are copies of the templates (`CREATE DATABASE ... TEMPLATE`, a fraction of a second where a
migration takes seconds on a busy server). Its databases are dropped in the background (a drop waits for a
checkpoint); `postgres_server` waits for those drops and drops the templates when it ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from effekt.database_roles import drop_runtime_roles, ensure_runtime_roles
from effekt.embedded_pg import EmbeddedPostgres, asyncpg_url
from effekt.launcher import DATABASE_SERVICES, SERVICES, Platform, Service, migrate, platform_env


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
    """A server URL: `EFFEKT_TEST_DATABASE_URL`, else 127.0.0.1:5432, else an embedded server. When it ends,
    the platforms' background drops are awaited and the templates made on it dropped."""
    if url := os.environ.get("EFFEKT_TEST_DATABASE_URL"):
        with tidied(url):
            yield url
    elif _reachable("127.0.0.1", 5432):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
        with tidied(url):
            yield url
    else:
        embedded = EmbeddedPostgres(work_dir / "postgres")
        try:
            url = embedded.start()
            with tidied(url):
                yield url
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


# --- template databases and background drops ----------------------------------------------------------------


@dataclass
class _Server:
    """What this process made on one server: templates by migration digest, and drops under way."""

    templates: dict[str, dict[str, str]] = field(default_factory=dict)  # digest -> service -> database
    drops: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_servers: dict[str, _Server] = {}
_servers_lock = threading.Lock()


def _server(server_url: str) -> _Server:
    with _servers_lock:
        return _servers.setdefault(server_url, _Server())


def _migrations_digest(services: tuple[Service, ...]) -> str:
    """What the templates' schema follows from: every file of each service's alembic environment."""
    digest = hashlib.sha256()
    for service in services:
        root = service.alembic_ini.parent
        for path in sorted([service.alembic_ini, *(root / "migrations").rglob("*.py")]):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _templates(server_url: str) -> dict[str, str]:
    """Each service's template database on the server, migrated to head the first time it is asked for."""
    server = _server(server_url)
    digest = _migrations_digest(DATABASE_SERVICES)
    with server.lock:
        if digest not in server.templates:
            prefix = f"effekt_template_{secrets.token_hex(4)}"
            names = {s.name: f"{prefix}_{s.name}" for s in DATABASE_SERVICES}
            asyncio.run(create_databases(server_url, list(names.values())))
            try:
                with ThreadPoolExecutor(len(names)) as pool:
                    for done in [
                        pool.submit(migrate, s, asyncpg_url(server_url, names[s.name]))
                        for s in DATABASE_SERVICES
                    ]:
                        done.result()
            except BaseException:
                asyncio.run(drop_databases(server_url, list(names.values())))
                raise
            asyncio.run(_seal(server_url, list(names.values())))
            server.templates[digest] = names
        return server.templates[digest]


async def _seal(server_url: str, names: list[str]) -> None:
    """No connections to the templates from now on (autovacuum's included): a copy fails while one is open."""
    conn = await _admin(server_url)
    try:
        for name in names:
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    finally:
        await conn.close()


async def create_copies(server_url: str, copies: Mapping[str, str]) -> None:
    """`CREATE DATABASE name TEMPLATE template` for each name -> template. A copy is refused while anyone is
    connected to the template; the sealed templates admit no one, but a worker already in is waited out."""
    conn = await _admin(server_url)
    try:
        for name, template in copies.items():
            for attempt in range(10):
                try:
                    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                    break
                except asyncpg.ObjectInUseError:
                    if attempt == 9:
                        raise
                    await asyncio.sleep(1.0)
    finally:
        await conn.close()


def _drop_in_background(server_url: str, names: list[str], then: Callable[[], None] = lambda: None) -> None:
    """Drop the databases in a thread, then run `then` (the runtime roles go after their databases: a role
    with privileges in one cannot be dropped)."""

    def drop_all() -> None:
        asyncio.run(drop_databases(server_url, names))
        then()

    drop = threading.Thread(target=drop_all, daemon=True)
    server = _server(server_url)
    with server.lock:
        server.drops.append(drop)
    drop.start()


@contextmanager
def tidied(server_url: str) -> Iterator[None]:
    """Around a server's use: on leaving, await its platforms' background drops and drop its templates (a
    caller that stops its own server must leave this first)."""
    try:
        yield
    finally:
        server = _server(server_url)
        with server.lock:
            drops, server.drops = server.drops, []
            templates = [name for names in server.templates.values() for name in names.values()]
            server.templates.clear()
        for drop in drops:
            drop.join()
        if templates:
            asyncio.run(drop_databases(server_url, templates))


@contextmanager
def running_platform(
    server_url: str,
    log_dir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    only: tuple[str, ...] | None = None,
    revocation_poll_seconds: float | None = 0.5,
    from_templates: bool = False,
) -> Iterator[Platform]:
    """The platform's processes (or `only` those named) on free ports against fresh databases, dropped
    afterwards. Revocations reach every process within `revocation_poll_seconds`. With `from_templates`
    the databases are copies of migrated templates and are dropped in the background (module docstring).


    The services connect as runtime roles made for this run (`platform.runtime_database_urls`), bound by
    the row policies, and migrate as the server's own user, which also owns the tables; tests that look
    at the tables directly use `platform.database_urls`, that owner's."""
    prefix = f"effekt_test_{secrets.token_hex(4)}"
    names = {s.name: f"{prefix}_{s.name}" for s in DATABASE_SERVICES}
    if from_templates:
        templates = _templates(server_url)
        asyncio.run(create_copies(server_url, {names[s]: templates[s] for s in names}))
    else:
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
        # Many runs share one PostgreSQL (100 connections): keep the idle pools small. Identity's holds the
        # six requests a cast (`effekt.sandbox.cast`) has in flight, or each burst opens and closes some.
        "IDENTITY_DB_POOL_SIZE": "6",
        "IDENTITY_DB_MAX_OVERFLOW": "4",
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

        def drop_roles() -> None:
            asyncio.run(drop_runtime_roles(admin_url, names))

        if from_templates:
            _drop_in_background(server_url, list(names.values()), then=drop_roles)
        else:
            asyncio.run(drop_databases(server_url, list(names.values())))
            drop_roles()
