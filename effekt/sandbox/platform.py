"""A disposable platform for the tests and the bench: a PostgreSQL server, fresh databases, and the four
services running as real processes on free ports, exactly as `effekt up` runs them, tuned to make many
users quickly (cheap password hashing) and to share one PostgreSQL with other runs (small pools).

A run that starts many platforms (the test suite) asks for `from_templates`: every platform's databases
are then copies of template databases (`CREATE DATABASE ... TEMPLATE`, a fraction of a second where a
migration takes seconds on a busy server), migrated to head (`alembic upgrade head`) once per server and
migration digest, and kept there for the next run with the same migrations (`_schema_digest`). Its
databases are dropped in the background (a drop waits for a checkpoint); `postgres_server` waits for
those drops when it ends.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import alembic
import asyncpg
import sqlalchemy

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
    the platforms' background drops are awaited."""
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


# Drops at once (a connection each): each DROP DATABASE waits for an immediate checkpoint, and requests made
# together share one, where one after another each waits for its own (3 drops: ~1 s together, ~4 s in turn
# on a loaded server).
DROPS_AT_ONCE = 4


async def drop_databases(server_url: str, names: list[str]) -> None:
    gate = asyncio.Semaphore(DROPS_AT_ONCE)

    async def drop(name: str) -> None:
        async with gate:
            conn = await _admin(server_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

    await asyncio.gather(*(drop(name) for name in names))


# --- template databases and background drops ----------------------------------------------------------------

# A service's template is kept on the server between runs, named after a digest of what its schema follows
# from (`_schema_digest`): a run whose migrations match copies it at once, one whose migrations differ makes
# its own. It is built under a temporary name and renamed only once migrated and sealed, so a kept name
# always holds a complete schema; two runs building the same one at once keep the first.
KEPT = "effekt_template_"  # + service + "_" + digest
BUILDING = "effekt_template_build_"  # + epoch seconds + "_" + random + "_" + service
# Kept templates per service besides the run's own (other branches' migrations on a shared server); older
# ones are dropped, as are builds a killed run left behind.
KEEP_OTHERS = 4
ABANDONED_AFTER_SECONDS = 3600


@dataclass
class _Server:
    """What this process uses on one server: the templates by schema digests, and drops under way."""

    templates: dict[str, dict[str, str]] = field(default_factory=dict)  # digests -> service -> database
    drops: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_servers: dict[str, _Server] = {}
_servers_lock = threading.Lock()


def _server(server_url: str) -> _Server:
    with _servers_lock:
        return _servers.setdefault(server_url, _Server())


def _first_party_imports(path: Path, root: Path) -> set[Path]:
    """The files of this repository's modules that a migration imports (a data migration may use the
    service's code), found by reading the source, never by importing it."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        names = (
            [node.module]
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            else [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            parts = name.split(".")
            for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
                if candidate.is_file():
                    found.add(candidate)
    return found


def _schema_digest(service: Service) -> str:
    """What a service's migrated schema follows from: its alembic environment (alembic.ini and every file
    under migrations/, env.py included), the shared migration code, every module of ours a migration
    imports (and what those import), and the versions of alembic and SQLAlchemy."""
    alembic_root = service.alembic_ini.parent
    root = alembic_root.parents[1]  # services/<name>/alembic.ini
    files = {service.alembic_ini, root / "kit" / "migrations.py"}
    files |= set((alembic_root / "migrations").rglob("*.py"))
    pending = [p for p in files if p.parent.name == "versions"]
    while pending:
        for imported in _first_party_imports(pending.pop(), root) - files:
            files.add(imported)
            pending.append(imported)
    digest = hashlib.sha256(f"alembic {alembic.__version__} sqlalchemy {sqlalchemy.__version__}\0".encode())
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _templates(server_url: str) -> dict[str, str]:
    """Each service's template database on the server: the kept one for its schema digest, else one
    migrated to head now (and kept)."""
    server = _server(server_url)
    names = {s.name: f"{KEPT}{s.name}_{_schema_digest(s)}" for s in DATABASE_SERVICES}
    key = " ".join(sorted(names.values()))
    with server.lock:
        if key not in server.templates:
            existing = asyncio.run(_existing(server_url))
            missing = tuple(s for s in DATABASE_SERVICES if names[s.name] not in existing)
            if missing:
                _build(server_url, {s.name: names[s.name] for s in missing})
            asyncio.run(_prune(server_url, set(names.values())))
            server.templates[key] = names
        return server.templates[key]


def _forget_templates(server_url: str) -> None:
    """After a copy found a template gone (another run pruned it): the next `_templates` looks again."""
    server = _server(server_url)
    with server.lock:
        server.templates.clear()


async def _existing(server_url: str) -> list[str]:
    """The server's template databases (kept and being built), oldest first."""
    conn = await _admin(server_url)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY oid", KEPT
        )
    finally:
        await conn.close()
    return [row["datname"] for row in rows]


def _build(server_url: str, kept: Mapping[str, str]) -> None:
    """Migrate each service's template under a temporary name, seal it, then rename it to its kept name."""
    services = [s for s in DATABASE_SERVICES if s.name in kept]
    building = {s.name: f"{BUILDING}{int(time.time())}_{secrets.token_hex(3)}_{s.name}" for s in services}
    asyncio.run(create_databases(server_url, list(building.values())))
    try:
        with ThreadPoolExecutor(len(services)) as pool:
            for done in [
                pool.submit(migrate, s, asyncpg_url(server_url, building[s.name])) for s in services
            ]:
                done.result()
        asyncio.run(_seal(server_url, list(building.values())))
        asyncio.run(_rename(server_url, {building[name]: kept[name] for name in building}))
    finally:
        asyncio.run(drop_databases(server_url, list(building.values())))  # those another run kept first


async def _seal(server_url: str, names: list[str]) -> None:
    """No connections to the templates from now on (autovacuum's included): a copy fails while one is open."""
    conn = await _admin(server_url)
    try:
        for name in names:
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    finally:
        await conn.close()


async def _rename(server_url: str, names: Mapping[str, str]) -> None:
    """Each sealed build to its kept name, unless another run kept one under that name first (the same
    schema: the name is its digest); a worker still in a build is waited out."""
    conn = await _admin(server_url)
    try:
        for old, new in names.items():
            for attempt in range(10):
                try:
                    await conn.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                    break
                except asyncpg.DuplicateDatabaseError:
                    break
                except asyncpg.ObjectInUseError:
                    if attempt == 9:
                        raise
                    await asyncio.sleep(1.0)
    finally:
        await conn.close()


async def _prune(server_url: str, using: set[str]) -> None:
    """Drop all but the newest `KEEP_OTHERS` kept templates of each service besides `using`, and builds
    abandoned over an hour ago (a run that builds one renames or drops it within minutes)."""
    names = await _existing(server_url)
    stale: list[str] = []
    for service in DATABASE_SERVICES:
        others = [n for n in names if n.startswith(f"{KEPT}{service.name}_") and n not in using]
        stale += others[: max(0, len(others) - KEEP_OTHERS)]
    for name in names:
        if name.startswith(BUILDING):
            started = name.removeprefix(BUILDING).split("_")[0]
            if started.isdigit() and time.time() - int(started) > ABANDONED_AFTER_SECONDS:
                stale.append(name)
    if stale:
        await drop_databases(server_url, stale)


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
    """Around a server's use: on leaving, await its platforms' background drops (a caller that stops its own
    server must leave this first). The templates stay on the server for the next run."""
    try:
        yield
    finally:
        server = _server(server_url)
        with server.lock:
            drops, server.drops = server.drops, []
            server.templates.clear()
        for drop in drops:
            drop.join()


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
        try:
            asyncio.run(create_copies(server_url, {names[s]: templates[s] for s in names}))
        except asyncpg.InvalidCatalogNameError:
            # Another run pruned a template this one had found (more branches than `KEEP_OTHERS` at once).
            _forget_templates(server_url)
            asyncio.run(drop_databases(server_url, list(names.values())))
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
